// Pipeline specs: the shipped specs read cleanly, and each class of mistake a spec author makes
// is refused with the file, the line and the dotted key of the mistake.
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace starstream::daemon::spec;

namespace {

const std::string kValid = R"(pipeline: lab
source: {topics: [lab_events], format: json}
fields:
  event_id: {pointer: /event_id, type: uuid, required: true}
  user_id: {pointer: /user/id, type: text, pattern: "user_[0-9]+"}
  price: {pointer: /price, type: numeric, range: [0, 1000]}
  at: {pointer: /timestamp, type: timestamp, unit: ms, required: true}
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

TEST(PipelineSpec, AggregatesOfEveryFunctionWithTheirOwnFilters) {
    const PipelineSpec s = parse_pipeline_spec(
        with("revenue: sum(price),", "revenue: sum(price), avg_price: {function: avg, of: price, where: {user_id: user_1}}, first_buyer: first(user_id), "
                                     "last_price: last(price), any_big: {function: any, where: {price: 10}},"),
        "lab.yaml");
    const auto& aggregates = s.windows[0].aggregates;
    ASSERT_EQ(aggregates.size(), 7u);
    EXPECT_EQ(aggregates[1].function, AggregateFunction::avg);
    EXPECT_EQ(aggregates[1].where, (Filter{{"user_id", {"user_1"}}}));
    EXPECT_EQ(aggregate_state_columns(s.windows[0], aggregates[1]), (std::vector<std::string>{"avg_price_sum", "avg_price_count"}));
    EXPECT_EQ(aggregate_state_columns(s.windows[0], aggregates[2]), (std::vector<std::string>{"first_buyer_event_time"}));
    EXPECT_EQ(aggregates[4].function, AggregateFunction::any);
    EXPECT_TRUE(aggregates[4].of.empty());
    EXPECT_TRUE(aggregate_state_columns(s.windows[0], aggregates[0]).empty());
    std::map<std::string, std::string> types;
    for (const auto& t : table_schemas(s))
        if (t.table == "win_revenue")
            for (const auto& c : t.columns) types[c.name] = c.type;
    EXPECT_EQ(types["avg_price"], "numeric");
    EXPECT_EQ(types["avg_price_sum"], "numeric");
    EXPECT_EQ(types["avg_price_count"], "bigint");
    EXPECT_EQ(types["first_buyer"], "text");
    EXPECT_EQ(types["first_buyer_event_time"], "timestamp with time zone");
    EXPECT_EQ(types.count("first_buyer_event_id"), 0u);  // a tie in event time goes by value: no event id kept
    EXPECT_EQ(types["last_price"], "numeric");
    EXPECT_EQ(types["any_big"], "boolean");
}

TEST(PipelineSpec, TypesRulesAndReferences) {
    expect_error(with("type: numeric", "type: decimal"), 6, "fields.price.type", "unknown value 'decimal'");
    expect_error(with("revenue: sum(price)", "revenue: sum(user_id)"), 19, "windows.win_revenue.aggregates.revenue", "sum and avg need");
    expect_error(with("revenue: sum(price)", "revenue: total(price)"), 19, "windows.win_revenue.aggregates.revenue", "unknown aggregate function 'total'");
    expect_error(with("columns: [event_id,", "columns: [evnt_id,"), 14, "facts.fact_lab.columns[0]", "'evnt_id' is not a field");
    expect_error(with("dimensions: [dim_user], columns", "dimensions: [dim_usr], columns"), 14, "facts.fact_lab.dimensions[0]", "not a dimension");
    expect_error(with("time: at}", "time: event_id}"), 8, "event.time", "must be a timestamp field");
    expect_error(with("time: at}", "time: price}"), 8, "event.time", "must be a required field");
    expect_error(with("pattern: \"user_[0-9]+\"", "pattern: \"user_[0-9+\""), 5, "fields.user_id.pattern", "does not compile");
    expect_error(with("slide: 5m", "slide: 7m"), 17, "windows.win_revenue.hopping", "multiple of its slide");
    expect_error(with("allowed_lateness: 10m", "allowed_lateness: 10 minutes"), 20, "windows.win_revenue.late.allowed_lateness", "duration");
    expect_error(with("pipeline: lab", "pipeline: Lab-Events"), 1, "pipeline", "lower-case SQL name");
}

// What an adversarial review found accepted, crashing or pointing at the wrong line.
TEST(PipelineSpec, HostileInputs) {
    expect_error(kValid + "---\npipeline: other\n", 22, "(yaml)", "one YAML document");
    expect_error(with("allowed_lateness: 10m", "allowed_lateness: 106751992d"), 20, "windows.win_revenue.late.allowed_lateness", "longer than");
    expect_error(with("allowed_lateness: 10m", "allowed_lateness: 18446744073709552ms"), 20, "windows.win_revenue.late.allowed_lateness", "duration");
    expect_error(with("slide: 5m", "slide: 1ms"), 17, "windows.win_revenue.hopping", "at most 1000");
    expect_error(with("range: [0, 1000]", "range: [nan, nan]"), 6, "fields.price.range[0]", "finite number");
    expect_error(with("range: [0, 1000]", "range: [0, inf]"), 6, "fields.price.range[1]", "finite number");
    expect_error(with("pattern: \"user_[0-9]+\"", "max_length: 1e300"), 5, "fields.user_id.max_length", "whole number");
    expect_error(with("topics: [lab_events]", "topics: []"), 2, "source.topics", "empty list");
    expect_error(with("topics: [lab_events]", "topics: [a, a]"), 2, "source.topics[1]", "listed twice");
    expect_error(with("topics: [lab_events]", "topics: [..]"), 2, "source.topics[0]", "not a Kafka topic");
    expect_error(with("group_by: [dim_user]", "group_by: [dim_user, dim_user]"), 18, "windows.win_revenue.group_by[1]", "listed twice");
    std::string clash = with("group_by: [dim_user]", "group_by: [user_id]");
    expect_error(clash.replace(clash.find("revenue: sum"), 7, "user_id"), 17, "windows.win_revenue", "make the column 'user_id'");
    expect_error(with("revenue: sum(price)", "window_start: sum(price)"), 17, "windows.win_revenue", "keeps for itself");
    // An aggregate's state columns (avg: <c>_sum, <c>_count; first, last: <c>_event_time) are kept too.
    expect_error(with("revenue: sum(price)", "revenue: avg(price), revenue_count: count"), 17, "windows.win_revenue", "'revenue_count' is one the table keeps");
    expect_error(with("revenue: sum(price)", "last_buyer: last(user_id), last_buyer_event_time: count"), 17, "windows.win_revenue",
                 "'last_buyer_event_time' is one the table keeps");
    // A session table keeps its last event time, and a filtered first/last's event time, beside the aggregates.
    const std::string session = with("hopping: {size: 1h, slide: 5m}", "session: {gap: 30m, key: user_id}");
    std::string last_event = session;
    expect_error(last_event.replace(last_event.find("revenue: sum"), 7, "last_event_time"), 17, "windows.win_revenue", "keeps for itself");
    std::string state = session;
    state.replace(state.find("buyers: count_distinct(user_id)"), 31,
                  "first_buyer: {function: first, of: user_id, where: {price: 5}}, first_buyer_event_time: count");
    expect_error(state, 17, "windows.win_revenue", "'first_buyer_event_time' is one the table keeps for itself");
    // PostgreSQL would cut a count_distinct's side table name (<table>_<column>_members) at 63 bytes.
    const std::string long_table = "win_" + std::string(46, 'r');
    expect_error(with("  win_revenue:", "  " + long_table + ":"), 17, "windows." + long_table, "side table '" + long_table + "_buyers_members'");
    // ... and an SCD type 2 dimension's observation table (<dimension>_observation).
    const std::string long_dimension = "dim_" + std::string(48, 'u');
    expect_error(with("  dim_user: {key: [user_id]}", "  " + long_dimension + ": {key: [user_id], attributes: [price], policy: scd2}"), 12,
                 "dimensions." + long_dimension, "observation table '" + long_dimension + "_observation'");
    EXPECT_NO_THROW(parse_pipeline_spec(with("  dim_user: {key: [user_id]}", "  dim_user: {key: [user_id], attributes: [price], policy: scd2}\n  " +
                                                 long_dimension.substr(1) + ": {key: [user_id], attributes: [price], policy: scd2}"),
                                        "lab.yaml"));  // 51 bytes: its observation table is 63
    expect_error(with("where: {user_id: [user_1, user_2]}", "where: {user_id: []}"), 19, "windows.win_revenue.aggregates.big.where.user_id", "empty list");
    expect_error(with("input: at}", "input: user_id}"), 10, "enrichers.calendar.input", "takes a timestamp field");
    expect_error(with("  event_id: {pointer", "  ? [a, b]\n  : 1\n  event_id: {pointer"), 4, "fields", "plain name");
    // Block style: a name's error points at the name, not at the value on the next line.
    expect_error(with("dimensions:\n  dim_user: {key: [user_id]}", "dimensions:\n  Dim_User:\n    key: [user_id]"), 12, "dimensions.Dim_User", "lower-case SQL name");
    std::string twice = with("dimensions:\n  dim_user: {key: [user_id]}", "dimensions:\n  dim_user:\n    key: [user_id]");
    expect_error(twice.replace(twice.find("  fact_lab:"), 11, "  dim_user:\n    columns: [price]\n  fact_lab:"), 15, "facts.dim_user", "defined twice");
}

TEST(PipelineSpec, FilterValuesMustBePossible) {
    std::string spec = with("user_id: {pointer: /user/id, type: text, pattern: \"user_[0-9]+\"}", "user_id: {pointer: /user/id, type: text, one_of: [user_1, user_2]}");
    expect_error(spec.replace(spec.find("[user_1, user_2]}}}"), 16, "[user_1, usr_2]"), 19, "windows.win_revenue.aggregates.big.where.user_id[1]", "nothing would match");
    expect_error(with("big: {function: count, where: {user_id: [user_1, user_2]}}", "big: {function: count, where: {price: cheap}}"), 19,
                 "windows.win_revenue.aggregates.big.where.price", "finite number");
}

TEST(PipelineSpec, PointerListsMapsOriginAndEarliestState) {
    expect_error(with("pointer: /user/id,", "pointer: [/user/id, user],"), 5, "fields.user_id.pointer[1]", "must start with '/'");
    expect_error(with("pointer: /user/id,", "pointer: [/user/id, /user/id],"), 5, "fields.user_id.pointer[1]", "listed twice");
    expect_error(with("pattern: \"user_[0-9]+\"", "only_with: id"), 5, "fields.user_id.only_with", "must start with '/'");
    expect_error(with("pointer: /user/id,", "pointer: [{pointer: /u, if: {kind: a}}, /user/id],"), 5, "fields.user_id.pointer[0].if.kind",
                 "must start with '/'");
    expect_error(with("pointer: /user/id,", "pointer: [{pointer: /u, when: {/kind: a}}],"), 5, "fields.user_id.pointer[0].when", "unknown key 'when'");
    expect_error(with("pointer: /user/id,", "pointer: [{pointer: /u, if: {}}],"), 5, "fields.user_id.pointer[0].if", "an empty condition");
    expect_error(with("range: [0, 1000]", "map: {a: b}"), 6, "fields.price.map", "map applies to text fields");
    expect_error(with("range: [0, 1000]", "default: \"0\""), 6, "fields.price.default", "default applies to text fields");
    // A default must pass the field's own rules and map: the decoder applies them to it.
    const std::string rule = "pattern: \"user_[0-9]+\"";
    expect_error(with(rule, rule + ", default: guest"), 5, "fields.user_id.default", "does not match the field's pattern");
    expect_error(with(rule, "one_of: [a, b], default: c"), 5, "fields.user_id.default", "is not one of the field's one_of values");
    expect_error(with(rule, "max_length: 2, default: abc"), 5, "fields.user_id.default", "is longer than the field's max_length");
    expect_error(with(rule, "map: {a: b}, default: c"), 5, "fields.user_id.default", "is not a value the field's map lists");
    EXPECT_NO_THROW(parse_pipeline_spec(with(rule, "one_of: [a, b], map: {a: user_1, b: user_2}, max_length: 1, default: b"), "lab.yaml"));
    expect_error(with("type: uuid, required: true}", "type: uuid, required: true, invalid: no_value}"), 4, "fields.event_id",
                 "would leave a required field without a value");
    expect_error(with("range: [0, 1000]", "invalid: skip"), 6, "fields.price.invalid", "unknown value 'skip'");
    expect_error(with("pattern: \"user_[0-9]+\"", "map: {}"), 5, "fields.user_id.map", "an empty map");
    expect_error(with("calendar: {function: calendar, input: at}", "origin: {function: record_origin, input: at}"), 10, "enrichers.origin.input",
                 "takes no input");
    expect_error(with("calendar: {function: calendar, input: at}", "calendar: {function: calendar}"), 10, "enrichers.calendar",
                 "missing key 'enrichers.calendar.input'");
    // The earliest policy keeps <first attribute>_seen, first_seen and last_seen for itself.
    expect_error(with("dim_user: {key: [user_id]}", "dim_user: {key: [user_id], attributes: [price, {price_seen: at}], policy: earliest}"), 12,
                 "dimensions.dim_user", "keeps for itself");
    expect_error(with("dim_user: {key: [user_id]}", "dim_user: {key: [user_id], attributes: [{first_seen: at}], policy: earliest}"), 12,
                 "dimensions.dim_user", "keeps for itself");
    // SCD type 1 keeps attributes_event_time for itself when it has attributes; type 0 keeps nothing.
    expect_error(with("dim_user: {key: [user_id]}", "dim_user: {key: [user_id], attributes: [price, {attributes_event_time: at}]}"), 12,
                 "dimensions.dim_user", "keeps for itself");
    EXPECT_NO_THROW(parse_pipeline_spec(with("dim_user: {key: [user_id]}", "dim_user: {key: [user_id], attributes: [{attributes_event_time: at}], policy: scd0}"),
                                        "lab.yaml"));
    // A filter on a mapped field compares the map's values.
    std::string mapped = with("pattern: \"user_[0-9]+\"", "map: {user_1: vip, user_2: regular}");
    expect_error(mapped, 19, "windows.win_revenue.aggregates.big.where.user_id[0]", "is not a value field 'user_id' maps to (regular, vip)");
    EXPECT_NO_THROW(parse_pipeline_spec(mapped.replace(mapped.find("[user_1, user_2]}}}"), 16, "[vip]"), "lab.yaml"));
    const PipelineSpec spec = parse_pipeline_spec(
        with("calendar: {function: calendar, input: at}", "calendar: {function: calendar, input: at}\n  origin: {function: record_origin}"), "lab.yaml");
    EXPECT_EQ(reference_type(spec, "origin.partition"), "integer");
    EXPECT_EQ(reference_type(spec, "origin.offset"), "bigint");
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
    // A window's view named like another spec's table.
    std::string view = other_topic;
    view.replace(view.find("fact_lab:"), 9, "fact_lab2:");
    view.replace(view.find("win_revenue:"), 12, "win_revenue2:");
    view += "  win_profile:\n    global: true\n    group_by: [user_id]\n    aggregates: {n: count}\n    view: fact_lab\n    derived: {m: \"n + 1\"}\n";
    std::ofstream(dir / "b.yaml") << view;
    try {
        read_pipeline_folder(dir.string());
        ADD_FAILURE() << "a view named like another spec's table was accepted";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.key(), "windows.win_profile.view");
        EXPECT_NE(std::string(e.what()).find("view 'fact_lab' is also a table or view of"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
}

TEST(PipelineSpec, FolderEntriesThatAreNoSpecFile) {
    const auto dir = std::filesystem::temp_directory_path() / ("starstream-specs-odd-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "a.YAML") << kValid;  // read: the extension's case does not matter
    EXPECT_EQ(read_pipeline_folder(dir.string()).size(), 1u);
    std::filesystem::create_symlink("loop.yaml", dir / "loop.yaml");  // a link to itself
    try {
        read_pipeline_folder(dir.string());
        ADD_FAILURE() << "a looping link was skipped";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.file(), (dir / "loop.yaml").string());
        EXPECT_NE(std::string(e.what()).find("looping link"), std::string::npos) << e.what();
    }
    std::filesystem::remove(dir / "loop.yaml");
    std::filesystem::create_directory(dir / "b.yml");
    EXPECT_THROW(read_pipeline_folder(dir.string()), SpecError);
    std::filesystem::remove_all(dir);
}

TEST(PipelineSpec, ConformedDimensionMustHoldTheSameThings) {
    const auto dir = std::filesystem::temp_directory_path() / ("starstream-specs-dim-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "a.yaml") << kValid;
    auto other = [&](const std::string& user_id_type) {
        std::string b = with("pipeline: lab", "pipeline: lab2");
        b.replace(b.find("lab_events"), 10, "other_topic");
        b.replace(b.find("fact_lab:"), 9, "fact_lab2:");
        b.replace(b.find("win_revenue:"), 12, "win_revenue2:");
        const std::string line = "user_id: {pointer: /user/id, type: text, pattern: \"user_[0-9]+\"}";
        b.replace(b.find(line), line.size(), "user_id: {pointer: /user/id, type: " + user_id_type + "}");
        return b;
    };
    std::ofstream(dir / "b.yaml") << other("text");  // dim_user shared, the same: accepted
    EXPECT_EQ(read_pipeline_folder(dir.string()).size(), 2u);
    std::ofstream(dir / "b.yaml") << other("uuid");
    try {
        read_pipeline_folder(dir.string());
        ADD_FAILURE() << "dim_user keyed by text in one spec and by uuid in the other was accepted";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.key(), "dim_user") << e.what();
        EXPECT_EQ(e.line(), 12) << e.what();
    }
    std::filesystem::remove_all(dir);
}

TEST(TableSchema, TheLabSpecsTablesAndTypes) {
    const PipelineSpec spec = read_pipeline_spec(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines/lab_events.yaml");
    std::map<std::string, std::string> got;
    for (const auto& t : table_schemas(spec)) {
        std::string columns;
        for (const auto& c : t.columns) columns += (columns.empty() ? "" : ", ") + c.name + " " + c.type;
        got[t.table] = columns;
        EXPECT_GT(t.line, 0) << t.table;
    }
    EXPECT_EQ(got["dim_date"], "date_key integer");
    EXPECT_EQ(got["dim_lab_item"], "lab_item_key bigint, item_id text, price numeric, valid_from timestamp with time zone, "
                                   "valid_to timestamp with time zone, is_current boolean");
    EXPECT_EQ(got["fact_lab_event"], "date_key integer, lab_user_key bigint, lab_item_key bigint, event_id uuid, event_type text, price numeric, "
                                     "timestamp timestamp with time zone");
    EXPECT_EQ(got["win_lab_revenue_per_minute"], "window_start timestamp with time zone, window_end timestamp with time zone, revenue numeric, "
                                                 "purchases bigint, buyers bigint");
    EXPECT_TRUE(holds("bigint", "smallint"));
    EXPECT_FALSE(holds("integer", "bigint"));
    EXPECT_FALSE(holds("text", "uuid"));
}

// A global window (one row per group for all time), mode, and the view deriving columns and a
// segment from the row: read, and each mistake refused at its key.
TEST(PipelineSpec, GlobalWindowModeAndView) {
    const std::string profile = R"yaml(  win_profile:
    global: true
    group_by: [user_id]
    aggregates: {buys: count, spent: sum(price), top_user: mode(user_id)}
    view: profile
    derived: {avg_spent: "spent / nullif(buys, 0)"}
    segments:
      column: tier
      rules:
        - {name: Big, when: "buys >= 3 and avg_spent > 10"}
        - {name: Small}
)yaml";
    const std::string yaml = kValid + profile;
    const PipelineSpec s = parse_pipeline_spec(yaml, "lab.yaml");
    const WindowTableSpec& w = s.windows.back();
    EXPECT_EQ(w.kind, WindowKind::global);
    EXPECT_EQ(w.aggregates[2].function, AggregateFunction::mode);
    EXPECT_EQ(w.aggregates[2].of, "user_id");
    EXPECT_EQ(w.view.name, "profile");
    ASSERT_EQ(w.view.derived.size(), 1u);
    EXPECT_EQ(w.view.derived[0].expression, "spent / nullif(buys, 0)");
    EXPECT_EQ(w.view.derived[0].line, 26);
    EXPECT_EQ(w.view.segment_column, "tier");
    ASSERT_EQ(w.view.segments.size(), 2u);
    EXPECT_EQ(w.view.segments[0].when, "buys >= 3 and avg_spent > 10");
    EXPECT_EQ(w.view.segments[1].when, "");
    // Table: the group keys alone make the key (no bounds); mode takes its input's type.
    for (const auto& t : table_schemas(s))
        if (t.table == "win_profile") {
            EXPECT_EQ(t.primary_key, std::vector<std::string>{"user_id"});
            EXPECT_EQ(t.columns.front().name, "user_id");
            EXPECT_EQ(t.columns.back().name, "top_user");
            EXPECT_EQ(t.columns.back().type, "text");
        }
    const auto counts = mode_count_tables(s);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].table, "win_profile_top_user_counts");
    EXPECT_EQ(counts[0].primary_key, (std::vector<std::string>{"user_id", "value"}));

    auto in_profile = [&](const std::string& from, const std::string& to) {
        std::string text = yaml;
        const auto at = text.find(from, text.find("win_profile"));
        EXPECT_NE(at, std::string::npos) << from;
        return text.replace(at, from.size(), to);
    };
    expect_error(in_profile("global: true", "global: false"), 22, "windows.win_profile.global", "leave it out");
    expect_error(in_profile("global: true", "global: true\n    tumbling: 1h"), 22, "windows.win_profile", "exactly one of");
    expect_error(in_profile("    group_by: [user_id]\n", ""), 22, "windows.win_profile", "a global window needs group_by");
    expect_error(in_profile("global: true", "global: true\n    late: {policy: drop}"), 23, "windows.win_profile.late", "never ends");
    expect_error(in_profile("global: true", "global: true\n    bounds: [a, b]"), 23, "windows.win_profile.bounds", "no bounds");
    expect_error(in_profile("top_user: mode(user_id)", "top_user: mode"), 24, "windows.win_profile.aggregates.top_user", "needs what it aggregates");
    expect_error(in_profile("    view: profile\n", ""), 22, "windows.win_profile", "name it with view");
    expect_error(in_profile("view: profile", "view: win_revenue"), 25, "windows.win_profile.view", "defined twice");
    expect_error(in_profile("\"spent / nullif(buys, 0)\"", "\"spent; DROP TABLE x\""), 26, "windows.win_profile.derived.avg_spent", "no ';'");
    expect_error(in_profile("\"spent / nullif(buys, 0)\"", "\"spent -- note\""), 26, "windows.win_profile.derived.avg_spent", "comment");
    expect_error(in_profile("\"spent / nullif(buys, 0)\"", "\"spent) AS x, (1\""), 26, "windows.win_profile.derived.avg_spent", "unbalanced");
    expect_error(in_profile("\"spent / nullif(buys, 0)\"", "\"\""), 26, "windows.win_profile.derived.avg_spent", "empty expression");
    expect_error(in_profile("derived: {avg_spent:", "derived: {buys:"), 22, "windows.win_profile", "two references make the column 'buys'");
    expect_error(in_profile("column: tier", "column: spent"), 22, "windows.win_profile", "two references make the column 'spent'");
    expect_error(in_profile("- {name: Small}", "- {name: Big}"), 31, "windows.win_profile.segments.rules[1].name", "named twice");
    expect_error(in_profile("- {name: Big, when: \"buys >= 3 and avg_spent > 10\"}", "- {name: Big}"), 30, "windows.win_profile.segments.rules[0]",
                 "only the last rule");
}

/// kValid whose event id is `id` (YAML), its fact holding event_key as a column too.
std::string keyed_by(const std::string& id) {
    std::string text = with("event: {id: event_id, time: at}", "event: {id: " + id + ", time: at}");
    return text.replace(text.find("columns: [event_id,"), 19, "columns: [event_key, event_id,");
}

TEST(PipelineSpec, AnEventIdHashedFromTheContent) {
    const PipelineSpec spec = parse_pipeline_spec(keyed_by("{name: event_key, hash: [at, user_id, price]}"), "lab.yaml");
    ASSERT_EQ(spec.event.id, std::vector<std::string>{"event_key"});
    const FieldSpec* key = spec.field("event_key");
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->type, FieldType::uuid);
    EXPECT_TRUE(key->required);
    // Inputs by index into the fields, in the listed order; the key comes after them.
    EXPECT_EQ(key->hash_of, (std::vector<std::size_t>{3, 1, 2}));
    EXPECT_EQ(&spec.fields.back(), key);
    expect_error(keyed_by("{name: event_key, hash: [at, who]}"), 8, "event.id.hash[1]", "'who' is not a field");
    expect_error(keyed_by("{name: price, hash: [at]}"), 8, "event.id.name", "has the name of a field");
    expect_error(keyed_by("{name: event_key}"), 8, "event.id", "missing key");
    // Like any event id, the fact's grain must be one of its columns.
    expect_error(with("event: {id: event_id, time: at}", "event: {id: {name: event_key, hash: [at]}, time: at}"), 14, "facts.fact_lab.grain",
                 "'event_key' is in no column");
}
