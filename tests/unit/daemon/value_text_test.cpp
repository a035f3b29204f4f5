// How a spec record's values are written for PostgreSQL (spec/value_text.h): what a
// column of each type reads back, at the edges (before 1970, microseconds, doubles, null).
#include "spec/value_text.h"

#include <gtest/gtest.h>

using starstream::daemon::spec::input_text;
using starstream::daemon::spec::joined_key;
using starstream::daemon::spec::FieldValue;

namespace {
constexpr const char* kTimestamptz = "timestamp with time zone";
}

TEST(SpecValues, TimestampsAreUtcWithMicrosecondsAlsoBefore1970) {
    EXPECT_EQ(input_text(FieldValue{std::int64_t{0}}, kTimestamptz), "1970-01-01 00:00:00.000000+00");
    EXPECT_EQ(input_text(FieldValue{std::int64_t{1700000000123456}}, kTimestamptz), "2023-11-14 22:13:20.123456+00");
    EXPECT_EQ(input_text(FieldValue{std::int64_t{-1}}, kTimestamptz), "1969-12-31 23:59:59.999999+00");
    EXPECT_EQ(input_text(FieldValue{std::int64_t{-62135596800000000}}, kTimestamptz), "0001-01-01 00:00:00.000000+00");
}

TEST(SpecValues, NumbersBooleansTextAndNull) {
    EXPECT_EQ(input_text(FieldValue{std::int64_t{-42}}, "bigint"), "-42");
    EXPECT_EQ(input_text(FieldValue{0.1}, "double precision"), "0.10000000000000001");  // round-trips exactly
    EXPECT_EQ(input_text(FieldValue{true}, "boolean"), "t");
    starstream::daemon::spec::TextArena arena;
    EXPECT_EQ(input_text(FieldValue{arena.store("12.50")}, "numeric"), "12.50");  // as sent: every digit kept
    EXPECT_EQ(input_text(FieldValue{}, "text"), std::nullopt);
}

TEST(SpecValues, JoinedKeysNeverJoinAlike) {
    EXPECT_EQ(joined_key({"a|b"}), "a|b");  // one part as it is: keys hash as product_view's
    EXPECT_EQ(joined_key({"FR", "IDF", "Paris"}), "FR|IDF|Paris");
    EXPECT_NE(joined_key({"a|b", "c"}), joined_key({"a", "b|c"}));
    EXPECT_EQ(joined_key({"a|b", "c\\"}), "a\\|b|c\\\\");
}
