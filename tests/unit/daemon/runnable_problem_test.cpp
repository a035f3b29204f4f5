// What a spec pipeline refuses to run at start (postgres::runnable_problem), for the keys that
// place a record in a window: a record without its group or session key would be in no window,
// so the key must be a required field or asked for by the table's filter ({present: true});
// the shipped specs run; an SCD type 2 dimension's single attribute may be optional (an event
// without it is a reference), not one of several; mode is refused on session windows.
#include "sink/postgres/spec_batch_writer.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

using starstream::daemon::postgres::runnable_problem;
using starstream::daemon::spec::parse_pipeline_spec;

namespace {

/// A spec whose window table is `window` (YAML lines under the table name).
std::string spec_with(const std::string& window) {
    return R"(pipeline: lab
source: {topics: [lab_events], format: json}
fields:
  event_id: {pointer: /event_id, type: uuid, required: true}
  user_id: {pointer: /user_id, type: text}
  item_id: {pointer: /item_id, type: text}
  at: {pointer: /timestamp, type: timestamp, required: true}
  page_url: {pointer: /url, type: text}
  ip: {pointer: /ip, type: inet}
event: {id: event_id, time: at}
enrichers:
  calendar: {function: calendar, input: at}
  page: {function: registrable_domain, input: page_url}
  geo: {function: ip_geography, input: ip}
dimensions:
  dim_item: {key: [item_id]}
facts:
  fact_lab: {grain: event, dimensions: [dim_item], columns: [event_id, at]}
windows:
  win_lab:
)" + window;
}

std::string problem_of(const std::string& window) { return runnable_problem(parse_pipeline_spec(spec_with(window), "lab.yaml")); }

}  // namespace

TEST(RunnableProblem, AGroupKeyThatMayBeMissingIsRefusedUnlessTheFilterAsksForIt) {
    EXPECT_NE(problem_of("    tumbling: 1m\n    group_by: [user_id]\n    aggregates: {n: count}\n")
                  .find("windows.win_lab.group_by[0]: user_id is not a required field: a record without it would be in no window"),
              std::string::npos);
    EXPECT_EQ(problem_of("    tumbling: 1m\n    where: {user_id: {present: true}}\n    group_by: [user_id]\n    aggregates: {n: count}\n"), "");
    // A filter on values asks for a value too.
    EXPECT_EQ(problem_of("    tumbling: 1m\n    where: {user_id: [user_1, user_2]}\n    group_by: [user_id]\n    aggregates: {n: count}\n"), "");
    // A dimension's natural key alike; a filter on another field does not help.
    EXPECT_NE(problem_of("    tumbling: 1m\n    where: {user_id: {present: true}}\n    group_by: [dim_item]\n    aggregates: {n: count}\n")
                  .find("dim_item's key item_id is not a required field"),
              std::string::npos);
    EXPECT_EQ(problem_of("    tumbling: 1m\n    where: {item_id: {present: true}}\n    group_by: [dim_item]\n    aggregates: {n: count}\n"), "");
}

TEST(RunnableProblem, AnEnricherOutputIsAGroupKeyWhenItAlwaysHasAValue) {
    // registrable_domain has no country for a generic TLD (.com): a window would lose those records.
    EXPECT_NE(problem_of("    tumbling: 1m\n    group_by: [page.country_code]\n    aggregates: {n: count}\n").find("page.country_code is not a required field"),
              std::string::npos);
    EXPECT_EQ(problem_of("    tumbling: 1m\n    where: {page.country_code: {present: true}}\n    group_by: [page.country_code]\n    aggregates: {n: count}\n"), "");
    // ip_geography always names a location (ZZ when unknown); the calendar of a required event time always has a date.
    EXPECT_EQ(problem_of("    tumbling: 1m\n    group_by: [geo.country_code, geo.city, calendar.date_key]\n    aggregates: {n: count}\n"), "");
}

TEST(RunnableProblem, ASessionKeyThatMayBeMissingIsRefusedUnlessTheFilterAsksForIt) {
    EXPECT_NE(problem_of("    session: {gap: 30m, key: user_id}\n    aggregates: {n: count}\n").find("windows.win_lab.session.key: user_id is not a required field"),
              std::string::npos);
    EXPECT_EQ(problem_of("    session: {gap: 30m, key: user_id}\n    where: {user_id: {present: true}}\n    aggregates: {n: count}\n"), "");
}

TEST(RunnableProblem, PresentTakesOnlyTrue) {
    for (const char* bad : {"{present: false}", "{}", "{presence: true}"}) {
        try {
            parse_pipeline_spec(spec_with(std::string("    tumbling: 1m\n    where: {user_id: ") + bad + "}\n    aggregates: {n: count}\n"), "lab.yaml");
            ADD_FAILURE() << bad << " parsed";
        } catch (const std::exception& e) {
            EXPECT_NE(std::string(e.what()).find("windows.win_lab.where.user_id"), std::string::npos) << e.what();
        }
    }
}

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

std::string problem(const std::string& yaml) { return runnable_problem(parse_pipeline_spec(yaml, "shop.yaml")); }

}  // namespace

TEST(SpecRunnable, TheShippedSpecsRun) {
    for (const auto& s : starstream::daemon::spec::read_pipeline_folder(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines"))
        if (s.name != "product_view") EXPECT_EQ(runnable_problem(s), "") << s.name;  // product_view runs compiled
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

TEST(SpecRunnable, AJsonbDimensionKeyIsRefused) {
    // {"a":1,"b":2} and {"b":2,"a":1.0} are one jsonb value: no hash of its text keys one member.
    const std::string yaml = R"yaml(pipeline: docs
source: {topics: [docs]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  doc: {pointer: /doc, type: jsonb}
event: {id: id, time: at}
dimensions:
  dim_doc: {key: [doc]}
facts:
  fact_docs: {grain: event, dimensions: [dim_doc], columns: [id]}
)yaml";
    EXPECT_NE(problem(yaml).find("dimension dim_doc: its key doc is jsonb"), std::string::npos) << problem(yaml);
}
