// What a spec pipeline can run (runnable_problem, sink/postgres/spec_batch_writer.h): the shipped
// specs, an SCD type 2 dimension whose single attribute is optional (an event without it is a
// reference), refused when one of several attributes is optional, and mode refused on sessions;
// taxonomy_levels' split of category codes.
#include "sink/postgres/spec_batch_writer.h"
#include "spec/enricher_runtime.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

using namespace starstream::daemon;

namespace {

const std::string kShop = R"yaml(pipeline: shop
source: {topics: [shop], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  sku: {pointer: /sku, type: text, required: true}
  price: {pointer: /price, type: numeric}
  color: {pointer: /color, type: text, required: true}
event: {id: id, time: at}
dimensions:
  dim_sku_price: {key: [sku], attributes: [price], policy: scd2}
facts:
  fact_shop: {grain: event, dimensions: [dim_sku_price], columns: [id, at, sku, price]}
)yaml";

std::string problem(const std::string& yaml) { return postgres::runnable_problem(spec::parse_pipeline_spec(yaml, "shop.yaml")); }

}  // namespace

TEST(SpecRunnable, TheShippedSpecsRun) {
    for (const auto& s : spec::read_pipeline_folder(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines"))
        if (s.name != "product_view") EXPECT_EQ(postgres::runnable_problem(s), "") << s.name;  // product_view runs compiled
}

TEST(SpecRunnable, AnOptionalAttributeOfAnScdType2Dimension) {
    EXPECT_EQ(problem(kShop), "");  // the only attribute: an event without it is a reference
    std::string several = kShop;
    several.replace(several.find("attributes: [price]"), 19, "attributes: [price, color]");
    EXPECT_NE(problem(several).find("dimension dim_sku_price: SCD type 2 attribute price must be a required field"), std::string::npos)
        << problem(several);
}

TEST(SpecRunnable, ModeIsNotComputedOnSessionWindows) {
    const std::string yaml = kShop + R"yaml(windows:
  win_visits: {session: {gap: 30m, key: sku}, aggregates: {top_color: mode(color)}}
)yaml";
    EXPECT_EQ(problem(yaml), "windows.win_visits.aggregates.top_color: mode is not computed on session windows (merging two sessions would need every "
                             "value's occurrences in both)");
}

TEST(TaxonomyLevels, SplitsACategoryCodeAtItsDots) {
    using Levels = std::array<std::string_view, 3>;
    EXPECT_EQ(spec::taxonomy_levels("electronics.audio.headphone"), (Levels{"electronics", "audio", "headphone"}));
    EXPECT_EQ(spec::taxonomy_levels("kids.toys"), (Levels{"kids", "toys", ""}));
    EXPECT_EQ(spec::taxonomy_levels("sport"), (Levels{"sport", "", ""}));
    EXPECT_EQ(spec::taxonomy_levels("a.b.c.d"), (Levels{"a", "b", "c.d"}));
    EXPECT_EQ(spec::taxonomy_levels(""), (Levels{"", "", ""}));
}
