// The spec's window filters as the stage evaluates them on the poll thread (SpecStage::append ->
// SpecRow::passed_filters) and as the sink tests them (RecordFilters::passes): numbering (equal
// filters share a number, an empty one is none), the comparisons of record_filters.h's rules (a
// boolean, a number in another spelling, text, presence, null), the bits agreeing with an evaluation
// of a row made without them, and the limit of distinct filters (a spec error naming the table).
#include "batch/micro_batch.h"
#include "spec/record_filters.h"
#include "spec/spec_reader.h"
#include "spec/spec_stage.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::spec;

namespace {

const std::string kSpec = R"yaml(pipeline: filters
source: {topics: [filters]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  kind: {pointer: /kind, type: text}
  bot: {pointer: /bot, type: boolean}
  qty: {pointer: /qty, type: numeric}
event: {id: id, time: at}
facts:
  fact_filters: {grain: event, columns: [id]}
windows:
  win_sales:
    tumbling: 1h
    where: {kind: sale}
    aggregates:
      sales: count
      human_sales: {function: count, where: {bot: false}}
      tens: {function: count, where: {qty: 10}}
  win_sales_again:
    tumbling: 1d
    where: {kind: sale}
    aggregates: {with_qty: {function: count, where: {qty: {present: true}}}}
)yaml";

/// The batch holding the row the stage makes of `json` (its text lives in the batch's arena).
std::unique_ptr<starstream::engine::MicroBatch> staged(SpecStage& stage, const std::string& json) {
    const auto decoded = stage.decode(json);
    EXPECT_TRUE(decoded.ok()) << decoded.reason;
    auto batch = stage.new_batch();
    batch->topics = {"filters"};
    stage.append(*batch, {0, 0, 0});
    return batch;
}

}  // namespace

TEST(RecordFilters, EqualFiltersShareANumberInSpecOrder) {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "filters.yaml");
    const ReferenceLayout layout(spec);
    const RecordFilters filters(spec, layout);
    const auto& sales = spec.windows.at(0);
    EXPECT_EQ(filters.number(sales.where), 0u);
    EXPECT_EQ(filters.number(sales.aggregates.at(0).where), RecordFilters::kNone);  // count: no filter
    EXPECT_EQ(filters.number(sales.aggregates.at(1).where), 1u);
    EXPECT_EQ(filters.number(sales.aggregates.at(2).where), 2u);
    EXPECT_EQ(filters.number(spec.windows.at(1).where), 0u);  // the same {kind: sale}
    EXPECT_EQ(filters.number(spec.windows.at(1).aggregates.at(0).where), 3u);
    // A second instance (the sink's) numbers alike.
    EXPECT_EQ(RecordFilters(spec, layout).number(spec.windows.at(1).aggregates.at(0).where), 3u);
}

TEST(RecordFilters, TheStagesBitsAreTheFiltersVerdicts) {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "filters.yaml");
    SpecStage stage(spec, starstream::daemon::enrichment::EnrichmentSettings{}, 65536);
    const ReferenceLayout layout(spec);
    const RecordFilters filters(spec, layout);
    struct Case {
        std::string json;
        std::uint64_t bits;  // sale, human (bot false), qty 10, qty present
    };
    const Case cases[] = {
        {R"({"id":"a","at":1,"kind":"sale","bot":false,"qty":"10.0"})", 0b1111},
        {R"({"id":"b","at":1,"kind":"sale","bot":true,"qty":"9"})", 0b1001},
        {R"({"id":"c","at":1,"kind":"refund","qty":"1e1"})", 0b1100},  // bot null: not "no"
        {R"({"id":"d","at":1,"kind":"Sale"})", 0b0000},                // text compares exactly
    };
    for (const auto& c : cases) {
        const auto batch = staged(stage, c.json);
        SpecRow& row = static_cast<SpecBatch&>(*batch).rows.at(0);
        ASSERT_TRUE(row.passed_filters.has_value()) << c.json;
        EXPECT_EQ(*row.passed_filters, c.bits) << c.json;
        for (std::size_t f = 0; f < 4; ++f) {
            EXPECT_EQ(filters.passes(f, row), ((c.bits >> f) & 1) != 0) << c.json << " filter " << f;
            row.passed_filters.reset();  // a row made without bits: evaluated by the sink, alike
            EXPECT_EQ(filters.passes(f, row), ((c.bits >> f) & 1) != 0) << c.json << " filter " << f << " evaluated";
            row.passed_filters = c.bits;
        }
        EXPECT_TRUE(filters.passes(RecordFilters::kNone, row));
    }
}

TEST(RecordFilters, TheReaderRefusesMoreDistinctFiltersThanBits) {
    std::string text = kSpec + "  win_many:\n    tumbling: 1h\n    aggregates:\n";
    for (int i = 0; i <= static_cast<int>(RecordFilters::kMaxFilters); ++i)
        text += "      n" + std::to_string(i) + ": {function: count, where: {kind: k" + std::to_string(i) + "}}\n";
    try {
        parse_pipeline_spec(text, "filters.yaml");
        FAIL() << "expected a SpecError";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.file(), "filters.yaml");
        EXPECT_EQ(e.line(), 25);  // win_many, after the 24 lines of kSpec
        EXPECT_EQ(e.key(), "windows.win_many");
        EXPECT_NE(std::string(e.what()).find("more than 64 distinct where filters"), std::string::npos) << e.what();
    }
    // 64 are fine: the four of kSpec and 60 more.
    text = kSpec + "  win_many:\n    tumbling: 1h\n    aggregates:\n";
    for (int i = 0; i < 60; ++i) text += "      n" + std::to_string(i) + ": {function: count, where: {kind: k" + std::to_string(i) + "}}\n";
    const PipelineSpec spec = parse_pipeline_spec(text, "filters.yaml");
    EXPECT_EQ(distinct_window_filters(spec).size(), RecordFilters::kMaxFilters);
    EXPECT_EQ(RecordFilters(spec, ReferenceLayout(spec)).number(spec.windows.at(2).aggregates.at(59).where), 63u);
}
