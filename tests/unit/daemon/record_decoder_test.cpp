// The spec-driven decoder: lab events (pipelines/lab_events.yaml) and every field type, against
// hand-computed values; each malformed message becomes the dead-letter reason a reader expects.
#include "spec/content_id.h"
#include "spec/record_decoder.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::spec;

namespace {

PipelineSpec lab_spec() { return read_pipeline_spec(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines/lab_events.yaml"); }

std::size_t index_of(const PipelineSpec& spec, const std::string& field) {
    for (std::size_t i = 0; i < spec.fields.size(); ++i)
        if (spec.fields[i].name == field) return i;
    ADD_FAILURE() << "no field " << field;
    return 0;
}

const std::string kLab =
    R"({"event_id":"3F2C9A0E-5D1B-4C8E-9A77-0B6E2F4D1C55","event_type":"purchase","user_id":"user_7","item_id":"item_12","price":"129.90","timestamp":"2026-11-30T10:15:30.250"})";

std::string with(std::string json, const std::string& from, const std::string& to) {
    const auto at = json.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return json.replace(at, from.size(), to);
}

}  // namespace

TEST(RecordDecoder, DecodesALabEvent) {
    const PipelineSpec spec = lab_spec();
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    ASSERT_EQ(decoder.decode(kLab, r), "");
    EXPECT_EQ(std::get<Text>(r.values[index_of(spec, "event_id")]).view(), "3f2c9a0e-5d1b-4c8e-9a77-0b6e2f4d1c55");
    EXPECT_EQ(std::get<Text>(r.values[index_of(spec, "price")]).view(), "129.90");  // every digit kept
    // 2026-11-30T10:15:30.25 UTC: 20,454 days to 2026-01-01 (14 leap days), 333 more to Nov 30, plus 36,930.25 s.
    EXPECT_EQ(std::get<std::int64_t>(r.values[index_of(spec, "timestamp")]), ((20454LL + 333) * 86400 + 36930) * 1'000'000 + 250'000);
}

TEST(RecordDecoder, MalformedLabEventsBecomeReasons) {
    const PipelineSpec spec = lab_spec();
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {with(kLab, R"("user_id":"user_7",)", ""), "missing field: user_id"},
        {with(kLab, R"("user_7")", "null"), "missing field: user_id"},
        {with(kLab, R"("user_7")", R"("")"), "missing field: user_id"},
        {with(kLab, R"("user_7")", "7"), "wrong type: user_id must be a string"},
        {with(kLab, R"("user_7")", R"("usr_7")"), "pattern mismatch: user_id does not match user_[0-9]+"},
        {with(kLab, R"("purchase")", R"("refund")"), "not allowed: event_type"},
        {with(kLab, R"("129.90")", R"("-1")"), "out of range: price not in [0, 1e+06]"},
        {with(kLab, R"("129.90")", R"("12,90")"), "wrong type: price must be a decimal number"},
        {with(kLab, R"("3F2C9A0E)", R"("3F2C9A0X)"), "wrong type: event_id must be a UUID"},
        {with(kLab, "2026-11-30T10:15:30.250", "30/11/2026 10:15"), "wrong format: timestamp must be ISO 8601"},
        {with(kLab, "2026-11-30T10", "2026-13-30T10"), "wrong format: timestamp must be ISO 8601"},
        {"[1, 2]", "not a JSON object"},
        {"{\"event_id\": ", "invalid JSON"},
        {std::string("{\"a\":\"\xff\"}"), "invalid UTF-8"},
    };
    for (const auto& [json, reason] : cases) EXPECT_EQ(decoder.decode(json, r).rfind(reason, 0), 0u) << json << " -> " << decoder.decode(json, r);
    EXPECT_EQ(RecordDecoder(spec, 10).decode(kLab, r).rfind("oversized", 0), 0u);
}

TEST(RecordDecoder, EveryTypeAndEncoding) {
    const PipelineSpec spec = parse_pipeline_spec(R"(pipeline: types
source: {topics: [t]}
fields:
  id: {pointer: /id, type: integer, required: true, range: [1, 100]}
  at: {pointer: /at/ms, type: timestamp, unit: ms, required: true}
  seen: {pointer: /seen, type: timestamp, format: "%Y-%m-%d %H:%M:%S UTC"}
  zoned: {pointer: /zoned, type: timestamp}
  ip: {pointer: /ip, type: inet}
  ok: {pointer: /flags/0, type: boolean}
  ratio: {pointer: /ratio, type: double}
  extra: {pointer: /extra, type: jsonb}
  slash: {pointer: /a~1b, type: text}
  offset: {pointer: /offset, type: timestamp, format: "%Y-%m-%d %H:%M:%S%z"}
event: {id: id, time: at}
facts:
  fact_types: {columns: [id, at]}
)", "types.yaml");
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    const std::string json = R"({"id":42,"at":{"ms":1700000000123},"seen":"2019-10-01 00:00:00 UTC","zoned":"2020-05-03T17:02:03+07:00",)"
                             R"("ip":"2001:db8::1","flags":[true],"ratio":0.25,"extra":{"k": [1, "x"]},"a/b":"slashed"})";
    ASSERT_EQ(decoder.decode(json, r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[0]), 42);
    EXPECT_EQ(std::get<std::int64_t>(r.values[1]), 1700000000123000);
    EXPECT_EQ(std::get<std::int64_t>(r.values[2]), 1569888000LL * 1'000'000);  // 2019-10-01T00:00:00Z
    EXPECT_EQ(std::get<std::int64_t>(r.values[3]), 1588500123LL * 1'000'000);  // 17:02:03 at +07:00 = 10:02:03Z
    EXPECT_EQ(std::get<Text>(r.values[4]).view(), "2001:db8::1");
    EXPECT_EQ(std::get<bool>(r.values[5]), true);
    EXPECT_EQ(std::get<double>(r.values[6]), 0.25);
    EXPECT_EQ(std::get<Text>(r.values[7]).view(), R"({"k":[1,"x"]})");
    EXPECT_EQ(std::get<Text>(r.values[8]).view(), "slashed");
    // Optional fields may be absent: null.
    ASSERT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0}})", r), "");
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[4]));
    EXPECT_EQ(decoder.decode(R"({"id":101,"at":{"ms":0}})", r), "out of range: id not in [1, 100]");
    EXPECT_EQ(decoder.decode(R"({"id":1.5,"at":{"ms":0}})", r), "wrong type: id must be an integer within +-9223372036854775807");
    EXPECT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0.5}})", r), "wrong type: at must be a whole number (epoch time)");
    EXPECT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0},"ip":"300.1.1.1"})", r), "wrong type: ip must be an IP address");
    EXPECT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0},"extra":"\u0000"})", r), "invalid string: extra contains NUL");
    EXPECT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0},"seen":"2019-10-01 00:00:00"})", r), "wrong format: seen must be '%Y-%m-%d %H:%M:%S UTC'");
    // %z: the offset applies; one of a day or more is no offset (date::parse reads any 4 digits).
    ASSERT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0},"offset":"2019-10-01 02:00:00+0200"})", r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[9]), 1569888000LL * 1'000'000);
    EXPECT_EQ(decoder.decode(R"({"id":1,"at":{"ms":0},"offset":"2019-10-01 02:00:00+9999"})", r),
              "wrong format: offset must be '%Y-%m-%d %H:%M:%S%z'");
}

TEST(RecordDecoder, TopLevelKeysAsAtPointerReadsThem) {
    // One-level pointers are read from one walk of the object (RecordDecoder::at): escaped keys,
    // a key given twice (the first counts), a key under another name, and one key serving two
    // fields must read as simdjson's at_pointer reads them.
    const PipelineSpec spec = parse_pipeline_spec(R"(pipeline: keys
source: {topics: [t]}
fields:
  id: {pointer: /id, type: integer, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  tilde: {pointer: /a~0b, type: text}
  both: {pointer: /a~01, type: text}
  again: {pointer: /id, type: integer}
  nested: {pointer: /id/x, type: integer}
event: {id: id, time: at}
facts:
  fact_keys: {columns: [id, at]}
)", "keys.yaml");
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    ASSERT_EQ(decoder.decode(R"({"at":1,"id":7,"a~b":"t","a~1":"one","a/b":"slash","id":8})", r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[0]), 7);
    EXPECT_EQ(std::get<Text>(r.values[2]).view(), "t");
    EXPECT_EQ(std::get<Text>(r.values[3]).view(), "one");
    EXPECT_EQ(std::get<std::int64_t>(r.values[4]), 7);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[5]));  // a scalar parent: nothing there
    EXPECT_EQ(decoder.decode(R"({"at":1,"ID":7})", r), "missing field: id");  // keys are case-sensitive
    ASSERT_EQ(decoder.decode(R"({"at":1,"id":9})", r), "");  // nothing left over from the message before
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[2]));
}

// Values an adversarial review found accepted here and refused by PostgreSQL (a wedged batch),
// or decoded into something else than sent.
TEST(RecordDecoder, NothingPostgresWouldRefuse) {
    const PipelineSpec spec = lab_spec();
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    for (const char* price : {R"("1e999999")", R"("1e-16384")", R"("0e99999999999999999999")", R"("NaN")", R"("Infinity")", R"(" 12")"})
        EXPECT_EQ(decoder.decode(with(kLab, R"("129.90")", price), r), "wrong type: price must be a decimal number") << price;
    for (const char* price : {R"("+5000000")", R"("-1e999")", R"("1e999")"})
        EXPECT_EQ(decoder.decode(with(kLab, R"("129.90")", price), r).rfind("out of range: price", 0), 0u) << price;
    EXPECT_EQ(decoder.decode(with(kLab, R"("129.90")", R"("+5")"), r), "");
    // Year 0 in lab's event time: saturated, never a value (the driver's bounds refuse it).
    EXPECT_EQ(decoder.decode(with(kLab, "2026-11-30T10:15:30.250", "0000-12-31T23:59:59"), r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[index_of(spec, "timestamp")]), INT64_MIN);
    EXPECT_EQ(r.event_time_text, R"("0000-12-31T23:59:59")");
    EXPECT_EQ(decoder.decode(with(kLab, "2026-11-30T10:15:30.250", "2026-11-30T10:15:30.2500001"), r).rfind("wrong format", 0), 0u);

    const PipelineSpec typed = parse_pipeline_spec(R"(pipeline: edge
source: {topics: [t]}
fields:
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  nested: {pointer: /a/b, type: text}
  extra: {pointer: /extra, type: jsonb}
  seen: {pointer: /seen, type: timestamp, unit: s}
event: {id: at, time: at}
facts:
  fact_edge: {columns: [at, nested, extra, seen]}
)", "edge.yaml");
    RecordDecoder edge(typed, 65536);
    EXPECT_EQ(edge.decode(R"({"at":0,"seen":1e12})", r), "out of range: seen outside the years 1 to 9999");
    EXPECT_EQ(edge.decode(R"({"at":0,"seen":-1e12})", r), "out of range: seen outside the years 1 to 9999");
    EXPECT_EQ(edge.decode(R"({"at":253402300799})", r), "");  // 9999-12-31T23:59:59Z
    EXPECT_EQ(r.event_time_text, "253402300799");
    // The event time beyond the years 1-9999 (a millisecond time as seconds) is saturated, for
    // the driver's event-time bounds to refuse as event_time_out_of_range; its text is as sent.
    EXPECT_EQ(edge.decode(R"({"at":1700000000000})", r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[0]), INT64_MAX);
    EXPECT_EQ(r.event_time_text, "1700000000000");
    EXPECT_EQ(edge.decode(R"({"at":-1e300})", r), "");
    EXPECT_EQ(std::get<std::int64_t>(r.values[0]), INT64_MIN);
    // A parent that is null or a scalar: the optional field is absent, the message a fact.
    for (const char* parent : {R"({"at":0,"a":null})", R"({"at":0,"a":5})", R"({"at":0,"a":[1]})"}) {
        ASSERT_EQ(edge.decode(parent, r), "") << parent;
        EXPECT_TRUE(std::holds_alternative<std::monostate>(r.values[1])) << parent;
    }
    // A backslash followed by u0000 is text, not a NUL; a real NUL in a key or value is refused.
    ASSERT_EQ(edge.decode(R"({"at":0,"extra":{"k":"\\u0000 literal"}})", r), "");
    EXPECT_EQ(edge.decode(R"({"at":0,"extra":{"k\u0000":1}})", r), "invalid string: extra contains NUL");
}

TEST(RecordDecoder, LooseStrftimeConversionsAreRefusedInTheSpec) {
    // ... and formats without a whole date, which date::parse could never read: "%Y-%m", "%m/%d %H:%M".
    for (const char* format : {"%Y-%m-%d %I:%M %p", "%Y-%m-%d %H:%M:%S %Z", "%Y-%j", "%Y-%m", "%m/%d %H:%M", "%d %H:%M", "%Y-%m %%d"}) {
        const std::string yaml = std::string("pipeline: f\nsource: {topics: [t]}\nfields:\n  at: {pointer: /at, type: timestamp, required: true, format: \"") +
                                 format + "\"}\nevent: {id: at, time: at}\nfacts:\n  fact_f: {columns: [at]}\n";
        EXPECT_THROW(parse_pipeline_spec(yaml, "f.yaml"), SpecError) << format;
    }
}

TEST(RecordDecoder, SeveralPointersOnlyWithMapsAndEmptyStrings) {
    const PipelineSpec spec = parse_pipeline_spec(R"(pipeline: shop
source: {topics: [t]}
fields:
  id: {pointer: /id, type: text, required: true}
  product: {pointer: [{pointer: /viewing_product_id, if: {/kind: [click, tap]}}, /product_id, /deep/product], type: text}
  page: {pointer: /url, type: text, only_with: /product_id}
  stage: {pointer: /kind, type: text, map: {view: browse, buy: purchase}}
  kind: {pointer: /kind, type: text, required: true, map: {view: browse, click: browse, tap: browse}, one_of: [view, buy, click, tap]}
  options: {pointer: /option, type: jsonb}
  ip: {pointer: /ip, type: inet, invalid: no_value}
  device: {pointer: /device, type: text, default: ""}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
event: {id: id, time: at}
facts:
  fact_event: {grain: event, columns: [id]}
)",
                                                  "shop.yaml");
    RecordDecoder decoder(spec, 65536);
    DecodedRecord r;
    auto value = [&](const std::string& field) { return r.values[index_of(spec, field)]; };
    const FieldValue none;
    TextArena expected;  // the texts compared with (Text compares by bytes)

    // The first pointer holding a value wins, a conditional one only when its condition holds;
    // "" and null are no value.
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"1","product_id":"p1","viewing_product_id":"v1","url":"u","kind":"view"})", r), "");
    EXPECT_EQ(value("product"), FieldValue{expected.store("p1")});  // not a click: viewing_product_id not tried
    EXPECT_EQ(value("page"), FieldValue{expected.store("u")});
    EXPECT_EQ(value("stage"), FieldValue{expected.store("browse")});
    EXPECT_EQ(value("kind"), FieldValue{expected.store("browse")});  // rules checked on "view", before the map
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"1","product_id":"p1","viewing_product_id":"v1","kind":"tap"})", r), "");
    EXPECT_EQ(value("product"), FieldValue{expected.store("v1")});
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"1","viewing_product_id":"v1","kind":"view"})", r), "");
    EXPECT_EQ(value("product"), none);
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"2","product_id":"","viewing_product_id":"v2","url":"u","kind":"click","option":"","ip":""})", r), "");
    EXPECT_EQ(value("product"), FieldValue{expected.store("v2")});
    EXPECT_EQ(value("page"), none);  // only_with: /product_id holds ""
    EXPECT_EQ(value("options"), none);
    EXPECT_EQ(value("ip"), none);
    EXPECT_EQ(value("device"), FieldValue{Text()});  // the default
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"2","kind":"view","ip":"no address","device":"d"})", r), "");
    EXPECT_EQ(value("ip"), none);  // invalid: no_value
    EXPECT_EQ(value("device"), FieldValue{expected.store("d")});
    EXPECT_EQ(decoder.decode(R"({"at":0,"id":"2","kind":"view","ip":7})", r), "wrong type: ip must be an IP address");  // not a string
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"3","product_id":null,"deep":{"product":"d3"},"url":"u","kind":"view"})", r), "");
    EXPECT_EQ(value("product"), FieldValue{expected.store("d3")});
    EXPECT_EQ(value("page"), none);
    ASSERT_EQ(decoder.decode(R"({"at":0,"id":"4","kind":"view"})", r), "");
    EXPECT_EQ(value("product"), none);

    // A value the map does not list: null for an optional field, a reason for a required one.
    EXPECT_EQ(decoder.decode(R"({"at":0,"id":"5","kind":"buy"})", r), "not allowed: kind is not one of the values its map lists");
    EXPECT_EQ(decoder.decode(R"({"at":0,"id":"5","kind":"refund"})", r).rfind("not allowed: kind", 0), 0u);
    EXPECT_EQ(decoder.decode(R"({"at":0,"id":"","kind":"view"})", r), "missing field: id");
    // A later pointer's value is still checked: a wrong type is a reason, not skipped.
    EXPECT_EQ(decoder.decode(R"({"at":0,"id":"6","viewing_product_id":7,"kind":"click"})", r), "wrong type: product must be a string");
}

// ---- a content id (event: {id: {name, hash}}) -------------------------------------------------

namespace {

/// EVENTS.md section 2's seed producer shape, keyed by its content as pipelines/commerce_events.yaml.
PipelineSpec commerce_spec() { return read_pipeline_spec(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines/commerce_events.yaml"); }

const std::string kSeed =
    R"({"event_id":"9008_501_1600945200","timestamp":"2020-09-24T11:00:00Z","event_type":"view","user_id":"9008","user_session":"S2",)"
    R"("product":{"id":"501","category_id":"2053013555631882655","category_code":"electronics.audio","brand":"gamma","price":20.0}})";

std::string key_of(RecordDecoder& decoder, const PipelineSpec& spec, const std::string& json) {
    DecodedRecord r;
    const std::string reason = decoder.decode(json, r);
    EXPECT_EQ(reason, "") << json;
    return reason.empty() ? std::string(std::get<Text>(r.values[index_of(spec, "event_key")]).view()) : "";
}

}  // namespace

TEST(RecordDecoder, AContentIdIsTheUuidOfTheTypedValues) {
    const PipelineSpec spec = commerce_spec();
    RecordDecoder decoder(spec, 65536);
    // The definition starstream-load shares: the hash list's values as content_id.h writes them
    // (the time in Unix microseconds, the price canonical), the producer's own id in no part.
    std::string expected;
    starstream::daemon::spec::content_id::uuid_of({"1600945200000000", "view", "501", "9008", "S2", "20"}, expected);
    EXPECT_EQ(key_of(decoder, spec, kSeed), expected);
}

TEST(RecordDecoder, AContentIdIsTheSameForTheSameValuesHoweverSpelled) {
    const PipelineSpec spec = commerce_spec();
    RecordDecoder decoder(spec, 65536);
    const std::string key = key_of(decoder, spec, kSeed);
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"20.0", R"("20.00")"}, {"20.0", R"("020")"}, {"20.0", "2e1"}, {"20.0", R"("2.0E+1")"},  // one price
             {"11:00:00Z", "11:00:00+00:00"}, {"11:00:00Z", "11:00:00.000Z"}, {"11:00:00Z", "11:00:00.000000+0000"},  // one time
             {"9008_501_1600945200", "another producer id"}, {"gamma", "delta"}, {R"("electronics.audio")", "null"}})  // not the event
        EXPECT_EQ(key_of(decoder, spec, with(kSeed, from, to)), key) << from << " -> " << to;
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {R"("view")", R"("cart")"}, {"20.0", "20.01"}, {"20.0", "null"}, {"11:00:00Z", "11:00:00.000001Z"}, {R"("S2")", R"("S3")"},
             {R"("user_id":"9008")", R"("user_id":"9009")"}, {R"("id":"501")", R"("id":"502")"}})
        EXPECT_NE(key_of(decoder, spec, with(kSeed, from, to)), key) << from << " -> " << to;
}

TEST(RecordDecoder, AJsonNumberPriceIsTheDecimalAsWritten) {
    // simdjson prints the double nearest 629.79298 as "629.7929799999999": the key of the number
    // must be the key of the string, which starstream-load hashes (a second review of issue 15).
    const PipelineSpec spec = commerce_spec();
    RecordDecoder decoder(spec, 65536);
    for (const std::string price : {"629.79298", "477.40822", "949.36282688", "269518.2212", "0.1", "1e2", "0.000001"}) {
        const std::string as_string = "\"" + price + "\"";
        EXPECT_EQ(key_of(decoder, spec, with(kSeed, "20.0", price)), key_of(decoder, spec, with(kSeed, "20.0", as_string))) << price;
    }
}
