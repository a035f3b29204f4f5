// Dimension member keys as the stage computes them on the poll thread (SpecStage::append ->
// SpecRow::member_keys), against surrogate_key() of natural keys written out by hand here in
// PostgreSQL's input syntax: one text part, several parts joined with '|' (a '|' inside a part
// escaped), a timestamp, a double, a null part, dim_date's key itself, and none for SCD type 2.
#include "batch/micro_batch.h"
#include "pipeline/surrogate_key.h"
#include "spec/member_keys.h"
#include "spec/spec_reader.h"
#include "spec/spec_stage.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::spec;
using starstream::daemon::surrogate_key;

namespace {

const std::string kSpec = R"yaml(pipeline: keys
source: {topics: [keys]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: ms, required: true}
  store: {pointer: /store, type: text, required: true}
  region: {pointer: /region, type: text}
  city: {pointer: /city, type: text}
  ratio: {pointer: /ratio, type: double}
  price: {pointer: /price, type: numeric}
event: {id: id, time: at}
enrichers:
  calendar: {function: calendar, input: at}
dimensions:
  dim_date: {key: [calendar.date_key]}
  dim_store: {key: [store]}
  dim_place: {key: [store, region, city]}
  dim_moment: {key: [at]}
  dim_ratio: {key: [ratio]}
  dim_priced: {key: [store], attributes: [price], policy: scd2}
facts:
  fact_keys: {grain: event, dimensions: [dim_date, dim_store, dim_place, dim_moment, dim_ratio, dim_priced], columns: [id]}
)yaml";

/// The member keys the stage gives `json` (read at keys[0]@0).
std::vector<std::int64_t> stage_keys(SpecStage& stage, const std::string& json) {
    const auto decoded = stage.decode(json);
    EXPECT_TRUE(decoded.ok()) << decoded.reason;
    auto batch = stage.new_batch();
    batch->topics = {"keys"};
    stage.append(*batch, {0, 0, 0});
    return static_cast<SpecBatch&>(*batch).rows.at(0).member_keys;
}

}  // namespace

TEST(MemberKeys, TheStageKeysEveryDimensionAsItsNaturalKeyText) {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "keys.yaml");
    SpecStage stage(spec, starstream::daemon::enrichment::EnrichmentSettings{}, 65536);
    // 2023-11-14 22:13:20.123 UTC
    const auto keys = stage_keys(stage, R"({"id":"e1","at":1700000000123,"store":"s|1","region":"Bavaria","city":"M\u00fcnchen","ratio":0.1,"price":"5"})");
    ASSERT_EQ(keys.size(), 6u);
    EXPECT_EQ(keys[0], 20231114);
    EXPECT_EQ(keys[1], surrogate_key("s|1"));  // a single part as it is
    EXPECT_EQ(keys[2], surrogate_key("s\\|1|Bavaria|M\xc3\xbcnchen"));
    EXPECT_EQ(keys[3], surrogate_key("2023-11-14 22:13:20.123000+00"));
    EXPECT_EQ(keys[4], surrogate_key("0.10000000000000001"));  // 17 significant digits
    EXPECT_EQ(keys[5], MemberKeys::kNone);                     // SCD type 2: versions keyed by the sink

    // A null part: no member (the fact's key is NULL); the other dimensions keep theirs.
    const auto partial = stage_keys(stage, R"({"id":"e2","at":0,"store":"s","city":"x"})");
    EXPECT_EQ(partial[0], 19700101);
    EXPECT_EQ(partial[1], surrogate_key("s"));
    EXPECT_EQ(partial[2], MemberKeys::kNone);
    EXPECT_EQ(partial[4], MemberKeys::kNone);

}

TEST(MemberKeys, OneValueSpelledTwoWaysIsOneMember) {
    // A numeric key "1.0" and "1", an inet key "::1" and "0::1": equal in their column, so one
    // member, one key (else a fact would carry a key its dimension never stores).
    const PipelineSpec spec = parse_pipeline_spec(R"yaml(pipeline: spellings
source: {topics: [s]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  price: {pointer: /price, type: numeric}
  ip: {pointer: /ip, type: inet}
event: {id: id, time: at}
dimensions:
  dim_price: {key: [price]}
  dim_host: {key: [ip, price]}
facts:
  fact_spellings: {grain: event, dimensions: [dim_price, dim_host], columns: [id]}
)yaml", "spellings.yaml");
    SpecStage stage(spec, starstream::daemon::enrichment::EnrichmentSettings{}, 65536);
    const auto a = stage_keys(stage, R"({"id":"a","at":1,"price":"1.0","ip":"::1"})");
    const auto b = stage_keys(stage, R"({"id":"b","at":1,"price":"+001","ip":"0:0::1"})");
    const auto c = stage_keys(stage, R"({"id":"c","at":1,"price":"1.5","ip":"::2"})");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a[0], surrogate_key("1"));
    EXPECT_EQ(a[1], surrogate_key("::1|1"));
    EXPECT_NE(a[0], c[0]);
    EXPECT_NE(a[1], c[1]);
}
