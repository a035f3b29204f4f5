// Pipeline specs: the shipped specs read cleanly, and each class of mistake a spec author makes
// is refused with the file, the line and the dotted key of the mistake.
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace starstream::daemon::spec;

namespace {

const std::string kValid = R"(pipeline: lab
source: {topics: [lab_events], format: json}
fields:
  event_id: {pointer: /event_id, type: uuid, required: true}
  user_id: {pointer: /user/id, type: text, pattern: "user_[0-9]+"}
  price: {pointer: /price, type: numeric, range: [0, 1000]}
  at: {pointer: /timestamp, type: timestamp, unit: ms}
event: {id: event_id, time: at}
enrichers:
  calendar: {function: calendar, input: at}
dimensions:
  dim_user: {key: [user_id]}
facts:
  fact_lab: {grain: event, dimensions: [dim_user], columns: [event_id, price, calendar.hour]}
windows:
  win_revenue:
    hopping: {size: 1h, slide: 5m}
    group_by: [dim_user]
    aggregates: {revenue: sum(price), buyers: count_distinct(user_id), big: {function: count, where: {user_id: [user_1, user_2]}}}
    late: {policy: correct, allowed_lateness: 10m}
)";

/// kValid with the first occurrence of `from` replaced by `to`.
std::string with(const std::string& from, const std::string& to) {
    std::string text = kValid;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

/// The error of parsing `yaml`; fails the test when it parses.
SpecError error_of(const std::string& yaml) {
    try {
        parse_pipeline_spec(yaml, "lab.yaml");
    } catch (const SpecError& e) {
        return e;
    }
    ADD_FAILURE() << "parsed without error:\n" << yaml;
    return SpecError("", 0, 0, "", "");
}

void expect_error(const std::string& yaml, int line, const std::string& key, const std::string& says) {
    const SpecError e = error_of(yaml);
    EXPECT_EQ(e.file(), "lab.yaml");
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
}

}  // namespace

TEST(PipelineSpec, ReadsEveryPart) {
    const PipelineSpec s = parse_pipeline_spec(kValid, "lab.yaml");
    EXPECT_EQ(s.name, "lab");
    EXPECT_EQ(s.topics, std::vector<std::string>{"lab_events"});
    ASSERT_EQ(s.fields.size(), 4u);
    EXPECT_EQ(s.field("user_id")->pointer, "/user/id");
    EXPECT_EQ(*s.field("price")->max, 1000);
    EXPECT_EQ(s.field("at")->timestamp.kind, TimestampEncoding::Kind::epoch_ms);
    EXPECT_EQ(s.event.id, std::vector<std::string>{"event_id"});
    ASSERT_EQ(s.windows.size(), 1u);
    const WindowTableSpec& w = s.windows[0];
    EXPECT_EQ(w.kind, WindowKind::hopping);
    EXPECT_EQ(w.size_us, 3'600'000'000);
    EXPECT_EQ(w.slide_us, 300'000'000);
    EXPECT_EQ(w.late, LatePolicy::correct);
    EXPECT_EQ(w.allowed_lateness_us, 600'000'000);
    ASSERT_EQ(w.aggregates.size(), 3u);
    EXPECT_EQ(w.aggregates[0].function, AggregateFunction::sum);
    EXPECT_EQ(w.aggregates[0].of, "price");
    EXPECT_EQ(w.aggregates[2].where.at("user_id"), (std::vector<std::string>{"user_1", "user_2"}));
    EXPECT_EQ(s.tables(), (std::vector<std::string>{"dim_user", "fact_lab", "win_revenue"}));
}

TEST(PipelineSpec, UnknownKeyNamesTheKeyAndItsLine) {
    expect_error(with("  price: {pointer: /price,", "  price: {pointr: /price,"), 6, "fields.price.pointr", "unknown key 'pointr'");
    expect_error(with("event: {id: event_id, time: at}", "event: {id: event_id, time: at, dedupe: true}"), 8, "event.dedupe", "unknown key");
}

TEST(PipelineSpec, BadJsonPointer) {
    expect_error(with("pointer: /user/id", "pointer: user/id"), 5, "fields.user_id.pointer", "must start with '/'");
    expect_error(with("pointer: /user/id", "pointer: /user~2id"), 5, "fields.user_id.pointer", "~0 and ~1");
}

TEST(PipelineSpec, UnknownEnricherAndOutput) {
    expect_error(with("function: calendar", "function: weather"), 10, "enrichers.calendar.function", "unknown enricher function 'weather'");
    expect_error(with("calendar.hour]", "calendar.minute]"), 14, "facts.fact_lab.columns[2]", "has no output 'minute'");
    expect_error(with("input: at}", "input: [at, price]}"), 10, "enrichers.calendar.input", "takes 1 input");
}

TEST(PipelineSpec, DuplicateTableAndDuplicateKey) {
    expect_error(with("facts:\n  fact_lab:", "facts:\n  dim_user:"), 14, "facts.dim_user", "defined twice");
    expect_error(with("  at: {pointer", "  price: {pointer: /p, type: integer}\n  at: {pointer"), 7, "fields.price", "given twice");
}

TEST(PipelineSpec, TypesRulesAndReferences) {
    expect_error(with("type: numeric", "type: decimal"), 6, "fields.price.type", "unknown value 'decimal'");
    expect_error(with("revenue: sum(price)", "revenue: sum(user_id)"), 19, "windows.win_revenue.aggregates.revenue", "sum and avg need");
    expect_error(with("revenue: sum(price)", "revenue: total(price)"), 19, "windows.win_revenue.aggregates.revenue", "unknown aggregate function 'total'");
    expect_error(with("columns: [event_id,", "columns: [evnt_id,"), 14, "facts.fact_lab.columns[0]", "'evnt_id' is not a field");
    expect_error(with("dimensions: [dim_user], columns", "dimensions: [dim_usr], columns"), 14, "facts.fact_lab.dimensions[0]", "not a dimension");
    expect_error(with("time: at}", "time: price}"), 8, "event.time", "must be a timestamp field");
    expect_error(with("pattern: \"user_[0-9]+\"", "pattern: \"user_[0-9+\""), 5, "fields.user_id.pattern", "does not compile");
    expect_error(with("slide: 5m", "slide: 7m"), 17, "windows.win_revenue.hopping", "multiple of its slide");
    expect_error(with("allowed_lateness: 10m", "allowed_lateness: 10 minutes"), 20, "windows.win_revenue.late.allowed_lateness", "duration");
    expect_error(with("pipeline: lab", "pipeline: Lab-Events"), 1, "pipeline", "lower-case SQL name");
}

TEST(PipelineSpec, YamlSyntaxErrorHasALine) {
    const SpecError e = error_of(with("  dim_user: {key: [user_id]}", "  dim_user: {key: [user_id}"));
    EXPECT_EQ(e.line(), 12) << e.what();
}

TEST(PipelineSpec, TheShippedSpecsReadTogether) {
    const auto specs = read_pipeline_folder(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines");
    ASSERT_GE(specs.size(), 2u);
    std::set<std::string> names;
    for (const auto& s : specs) names.insert(s.name);
    EXPECT_TRUE(names.count("product_view") && names.count("lab_events"));
}

TEST(PipelineSpec, FolderRefusesATopicOrTableOwnedTwice) {
    const auto dir = std::filesystem::temp_directory_path() / ("starstream-specs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "a.yaml") << kValid;
    std::ofstream(dir / "b.yaml") << with("pipeline: lab", "pipeline: lab2");
    try {
        read_pipeline_folder(dir.string());
        ADD_FAILURE() << "a topic consumed by two specs was accepted";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.file(), (dir / "b.yaml").string());
        EXPECT_EQ(e.key(), "source.topics");
        EXPECT_EQ(e.line(), 2);
    }
    std::string other_topic = with("pipeline: lab", "pipeline: lab2");
    other_topic.replace(other_topic.find("lab_events"), 10, "other_topic");
    std::ofstream(dir / "b.yaml") << other_topic;
    try {
        read_pipeline_folder(dir.string());
        ADD_FAILURE() << "a fact table defined by two specs was accepted";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.key(), "fact_lab");
        EXPECT_NE(std::string(e.what()).find("also defined in"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
}
