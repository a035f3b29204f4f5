// The SCD type 2 dimensions of pipeline specs as the merge describes them (no database).
#include "sink/postgres/scd2_dimensions.h"

#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace starstream::daemon::postgres {
namespace {

std::string lab_events_yaml() {
    std::ifstream in(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines/lab_events.yaml");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(Scd2Dimensions, TheLabSpecsItem) {
    const auto dims = scd2_dimensions({spec::parse_pipeline_spec(lab_events_yaml(), "lab_events.yaml")});
    ASSERT_EQ(dims.size(), 1u);
    const Scd2Dimension& d = dims[0];
    EXPECT_EQ(d.table, "dim_lab_item");
    EXPECT_EQ(d.surrogate_key, "lab_item_key");
    ASSERT_EQ(d.natural_key.size(), 1u);
    EXPECT_EQ(d.natural_key[0].name + " " + d.natural_key[0].type, "item_id text");
    ASSERT_EQ(d.attributes.size(), 1u);
    EXPECT_EQ(d.attributes[0].name + " " + d.attributes[0].type, "price numeric");
    ASSERT_EQ(d.facts.size(), 1u);
    EXPECT_EQ(d.facts[0].table + " " + d.facts[0].key_column + " " + d.facts[0].time_column, "fact_lab_event lab_item_key timestamp");
    EXPECT_EQ(d.observation_table(), "dim_lab_item_observation");
    EXPECT_NO_THROW(Scd2Merge{d});
}

TEST(Scd2Dimensions, AFactWithoutItsEventTimeIsRefused) {
    std::string yaml = lab_events_yaml();
    const std::string columns = "columns: [event_id, event_type, price, timestamp]";
    ASSERT_NE(yaml.find(columns), std::string::npos);
    yaml.replace(yaml.find(columns), columns.size(), "columns: [event_id, event_type, price]");
    try {
        scd2_dimensions({spec::parse_pipeline_spec(yaml, "lab_events.yaml")});
        FAIL() << "accepted";
    } catch (const spec::SpecError& e) {
        EXPECT_EQ(e.key(), "facts.fact_lab_event");
        EXPECT_GT(e.line(), 0);
        EXPECT_NE(std::string(e.what()).find("needs its event time 'timestamp'"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace starstream::daemon::postgres
