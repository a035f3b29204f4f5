// Where SpecStage::append keeps a record's text: in the batch's arena, out of the record's
// scratch arena (which the next decode reuses), a value a batch repeats (a dimension's key or
// attribute, an enricher's output) once per batch, two fields reading one pointer once per record.
// Checked against the messages' own values, after later records reused the scratch arena.
#include "batch/micro_batch.h"
#include "spec/spec_reader.h"
#include "spec/spec_stage.h"

#include <gtest/gtest.h>

#include <string>

using namespace starstream::daemon::spec;

namespace {

const std::string kSpec = R"yaml(pipeline: texts
source: {topics: [texts]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  store: {pointer: /store, type: text, required: true}
  url: {pointer: /url, type: text}
  page: {pointer: /url, type: text}
  note: {pointer: /note, type: text}
event: {id: id, time: at}
enrichers:
  calendar: {function: calendar, input: at}
  site: {function: registrable_domain, input: url}
dimensions:
  dim_store: {key: [store], attributes: [site.domain], policy: earliest}
facts:
  fact_texts: {grain: event, dimensions: [dim_store], columns: [id, url, page, note]}
)yaml";

std::string_view text_at(const SpecRow& row, const ReferenceLayout& layout, const std::string& ref) {
    const auto* text = std::get_if<Text>(&row.values.at(layout.at(ref)));
    return text ? text->view() : std::string_view("<not text>");
}

}  // namespace

TEST(SpecStageText, RowsKeepTheirTextOnceWhereTheBatchRepeatsIt) {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "texts.yaml");
    SpecStage stage(spec, starstream::daemon::enrichment::EnrichmentSettings{}, 65536);
    auto batch_owner = stage.new_batch();
    auto& batch = static_cast<SpecBatch&>(*batch_owner);
    batch.topics = {"texts"};
    const int records = 200;
    for (int i = 0; i < records; ++i) {
        const std::string json = R"({"id":"event-)" + std::to_string(i) + R"(","at":1700000000,"store":"store-)" + std::to_string(i % 2) +
                                 R"(","url":"https://www.shop.example.co.uk/p/)" + std::to_string(i) + R"(","note":"note )" + std::to_string(i) + "\"}";
        const auto decoded = stage.decode(json);
        ASSERT_TRUE(decoded.ok()) << decoded.reason;
        stage.append(batch, {0, 0, i});
    }
    const auto& layout = stage.layout();
    ASSERT_EQ(batch.rows.size(), static_cast<std::size_t>(records));
    for (int i = 0; i < records; ++i) {
        const SpecRow& row = batch.rows[static_cast<std::size_t>(i)];
        const std::string url = "https://www.shop.example.co.uk/p/" + std::to_string(i);
        EXPECT_EQ(text_at(row, layout, "id"), "event-" + std::to_string(i));
        EXPECT_EQ(text_at(row, layout, "store"), "store-" + std::to_string(i % 2));
        EXPECT_EQ(text_at(row, layout, "url"), url);
        EXPECT_EQ(text_at(row, layout, "page"), url);
        EXPECT_EQ(text_at(row, layout, "note"), "note " + std::to_string(i));
        EXPECT_EQ(text_at(row, layout, "site.domain"), "example.co.uk");
        // Two fields of one pointer: one copy of the record's URL.
        EXPECT_EQ(text_at(row, layout, "page").data(), text_at(row, layout, "url").data());
    }
    // A dimension key and an enricher output: one copy per batch; an event id: one per record.
    const SpecRow& a = batch.rows[0];
    const SpecRow& b = batch.rows[2];
    EXPECT_EQ(text_at(a, layout, "store").data(), text_at(b, layout, "store").data());
    EXPECT_EQ(text_at(a, layout, "site.domain").data(), text_at(b, layout, "site.domain").data());
    EXPECT_NE(text_at(a, layout, "store").data(), text_at(batch.rows[1], layout, "store").data());
    EXPECT_NE(text_at(a, layout, "id").data(), text_at(b, layout, "id").data());
}

// A dimension keyed by a per-event id repeats nothing: the batch stops interning it after a trial,
// so its set holds about kInternTrial entries however large the batch, and every value is right.
TEST(SpecStageText, AMostlyDistinctKeyStopsBeingInterned) {
    const PipelineSpec spec = parse_pipeline_spec(R"yaml(pipeline: distinct
source: {topics: [distinct]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  store: {pointer: /store, type: text, required: true}
event: {id: id, time: at}
dimensions:
  dim_event: {key: [id]}
  dim_store: {key: [store]}
facts:
  fact_distinct: {grain: event, dimensions: [dim_event, dim_store], columns: [id]}
)yaml", "distinct.yaml");
    SpecStage stage(spec, starstream::daemon::enrichment::EnrichmentSettings{}, 65536);
    const auto& layout = stage.layout();
    for (int round = 0; round < 2; ++round) {  // the trial starts again in each batch
        auto batch_owner = stage.new_batch();
        auto& batch = static_cast<SpecBatch&>(*batch_owner);
        batch.topics = {"distinct"};
        const int records = 5000;
        for (int i = 0; i < records; ++i) {
            const std::string json = R"({"id":"event-)" + std::to_string(i) + R"(","at":1700000000,"store":"store-)" + std::to_string(i % 3) + "\"}";
            ASSERT_TRUE(stage.decode(json).ok());
            stage.append(batch, {0, 0, i});
        }
        for (int i = 0; i < records; ++i) {
            const SpecRow& row = batch.rows[static_cast<std::size_t>(i)];
            ASSERT_EQ(text_at(row, layout, "id"), "event-" + std::to_string(i));
            ASSERT_EQ(text_at(row, layout, "store"), "store-" + std::to_string(i % 3));
        }
        EXPECT_GE(batch.arena.interned(), 1024u + 3u);  // the trial's ids and the three stores
        EXPECT_LE(batch.arena.interned(), 1025u + 3u);
        // The stores stay interned after the ids stopped being.
        EXPECT_EQ(text_at(batch.rows[4997], layout, "store").data(), text_at(batch.rows[2], layout, "store").data());
    }
}
