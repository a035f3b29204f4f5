#include "pipeline/product_view/decoder.h"

#include <gtest/gtest.h>

using starstream::daemon::product_view::Decoder;
using starstream::daemon::product_view::ProductViewEvent;

namespace {

const std::string kValid =
    R"({"id":"3f2c9a0e-5d1b-4c8e-9a77-0b6e2f4d1c55","_id":"5eb1c0d2a1b2c3d4e5f60718","time_stamp":1588500123,)"
    R"("ip":"93.184.12.40","user_agent":"Mozilla/5.0","resolution":"1920x1080","device_id":"b1e4f7a2-0c3d-4e5f-8a9b-1c2d3e4f5a6b",)"
    R"("user_id_db":"","email_address":"someone@example.com","store_id":"6","current_url":"https://www.shop.de/ring.html",)"
    R"("referrer_url":"https://www.google.com/","collection":"view_product_detail","product_id":"90412",)"
    R"("option":[{"option_label":"alloy","option_id":"330101","value_label":"","value_id":"3264001"}],"unknown_field":{"x":[1,2]}})";

std::string decode(const std::string& payload, ProductViewEvent& event, std::size_t max = 65536) {
    Decoder decoder(max);
    return decoder.decode(payload, event);
}

std::string reason(const std::string& payload) {
    ProductViewEvent event;
    return decode(payload, event);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    s.replace(s.find(from), from.size(), to);
    return s;
}

}  // namespace

TEST(Decoder, DecodesTheDocumentedExample) {
    ProductViewEvent e;
    ASSERT_EQ(decode(kValid, e), "");
    EXPECT_EQ(e.id[0], 0x3f);
    EXPECT_EQ(e.id[15], 0x55);
    EXPECT_EQ(e.time_stamp, 1588500123);
    EXPECT_EQ(e.store_id, "6");
    EXPECT_EQ(e.collection, "view_product_detail");
    EXPECT_EQ(e.product_id, "90412");
    EXPECT_EQ(e.referrer_url, "https://www.google.com/");
    EXPECT_EQ(e.options_json, R"([{"option_label":"alloy","option_id":"330101","value_label":"","value_id":"3264001"}])");
}

TEST(Decoder, MissingOptionalFieldsAndEmptyOptionAreFine) {
    ProductViewEvent e;
    std::string minimal = R"({"id":"3f2c9a0e-5d1b-4c8e-9a77-0b6e2f4d1c55","time_stamp":1,"store_id":"6","collection":"c","option":"","referrer_url":null})";
    ASSERT_EQ(decode(minimal, e), "");
    EXPECT_EQ(e.options_json, "");
    EXPECT_EQ(e.referrer_url, "");
    EXPECT_EQ(e.product_id, "");
}

TEST(Decoder, MalformedMessagesGetAReason) {
    EXPECT_EQ(reason(kValid.substr(0, kValid.size() / 2)).rfind("invalid JSON", 0), 0u);
    EXPECT_EQ(reason("[1,2]"), "invalid JSON: not an object");
    EXPECT_EQ(reason(replace(kValid, R"("id":"3f2c9a0e-5d1b-4c8e-9a77-0b6e2f4d1c55",)", "")), "missing field: id");
    EXPECT_EQ(reason(replace(kValid, "3f2c9a0e-5d1b", "3f2c9a0e-5d1x")), "wrong type: id must be a UUID");
    EXPECT_EQ(reason(replace(kValid, "1588500123", "\"1588500123\"")), "wrong type: time_stamp must be an integer");
    EXPECT_EQ(reason(replace(kValid, "1588500123", "1588500123.5")), "wrong type: time_stamp must be an integer");
    EXPECT_EQ(reason(replace(kValid, R"("store_id":"6")", R"("store_id":6)")), "wrong type: store_id must be a string");
    EXPECT_EQ(reason(replace(kValid, R"("collection":"view_product_detail")", R"("collection":"")")), "missing field: collection is empty");
    EXPECT_EQ(reason(replace(kValid, "Mozilla/5.0", "Mozilla\xC3\x28")), "invalid UTF-8");
    EXPECT_EQ(reason(replace(kValid, "Mozilla/5.0", "Mozilla\\u0000")), "invalid string: user_agent contains NUL");
    EXPECT_EQ(reason(kValid + "{}").rfind("invalid JSON", 0), 0u);
}

TEST(Decoder, OversizedMessagesAreRejectedBeforeParsing) {
    ProductViewEvent e;
    EXPECT_EQ(decode(kValid, e, 100), "oversized: more than source.max_event_bytes (100)");
}

TEST(Decoder, ParserIsReusableAcrossMessages) {
    Decoder decoder(65536);
    ProductViewEvent e;
    EXPECT_NE(decoder.decode("{", e), "");
    EXPECT_EQ(decoder.decode(kValid, e), "");
    EXPECT_EQ(e.store_id, "6");
}

// Values Postgres would reject in the batch (jsonb) must be caught here, as dead letters,
// so that one bad message can never block a batch.
TEST(Decoder, RejectsWhatJsonbWouldReject) {
    EXPECT_NE(reason(replace(kValid, R"("value_label":"")", R"("value_label":"\ud800")")), "");
    EXPECT_NE(reason(replace(kValid, R"("value_label":"")", R"("value_label":"\udc00x")")), "");
    EXPECT_NE(reason(replace(kValid, R"("value_label":"")", R"("value_label":1e999999)")), "");
    EXPECT_EQ(reason(replace(kValid, R"("value_label":"")", R"("value_label":"\u0000")")), "invalid string: option contains NUL");
    EXPECT_EQ(reason(replace(kValid, R"("value_label":"")", R"("value_label":"\ud83d\ude00")")), "");
}

// A natural key too long for its index would make Postgres refuse every batch that holds it
// (SQLSTATE 54000): the decoder refuses it instead.
TEST(Decoder, NaturalKeysLongerThanTheirIndexAllowsAreDeadLetters) {
    EXPECT_EQ(reason(replace(kValid, "\"product_id\":\"90412\"", "\"product_id\":\"" + std::string(513, '7') + "\"")),
              "oversized field: product_id longer than 512 bytes");
    EXPECT_EQ(reason(replace(kValid, "\"product_id\":\"90412\"", "\"product_id\":\"" + std::string(512, '7') + "\"")), "");
}
