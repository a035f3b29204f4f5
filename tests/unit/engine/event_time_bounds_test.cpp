#include "time/event_time_bounds.h"

#include <gtest/gtest.h>

using starstream::engine::EventTimeBounds;

namespace {
// 2020-05-03T10:02:03Z, the figures' period (EVENTS.md).
constexpr std::int64_t kNowUs = 1588500123000000;
}  // namespace

TEST(EventTimeBounds, AdmitsTimesBetweenTheMinimumAndNowPlusTheAllowance) {
    const EventTimeBounds bounds;  // 2000-01-01 .. now + 1 day
    EXPECT_TRUE(bounds.admits_seconds(1588500123, kNowUs));
    EXPECT_TRUE(bounds.admits_seconds(946684800, kNowUs));            // exactly the minimum
    EXPECT_TRUE(bounds.admits_seconds(1588500123 + 86400, kNowUs));   // exactly now + 1 day
    EXPECT_FALSE(bounds.admits_seconds(946684799, kNowUs));
    EXPECT_FALSE(bounds.admits_seconds(1588500123 + 86401, kNowUs));
}

TEST(EventTimeBounds, RefusesTheUsualProducerMistakesWithoutOverflow) {
    const EventTimeBounds bounds;
    EXPECT_FALSE(bounds.admits_seconds(1588500123000, kNowUs));        // milliseconds read as seconds
    EXPECT_FALSE(bounds.admits_seconds(253402300799, kNowUs));         // 9999-12-31T23:59:59Z
    EXPECT_FALSE(bounds.admits_seconds(-1588500123, kNowUs));          // negative
    EXPECT_FALSE(bounds.admits_seconds(INT64_MAX, kNowUs));            // would overflow in microseconds
    EXPECT_FALSE(bounds.admits_seconds(INT64_MIN, kNowUs));
}
