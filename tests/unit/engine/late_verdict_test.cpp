// judge_lateness: what each late policy does with a record behind the watermark, shared by the
// compiled pipeline's WindowPartials and the spec pipelines' window writer.
#include "window/window_partials.h"

#include <gtest/gtest.h>

using namespace starstream::engine;

namespace {
constexpr std::int64_t kMinute = 60'000'000;
WindowTableSpec minutes(LatePolicy late, std::int64_t allowed = 0) { return {{WindowKind::tumbling, kMinute, 0, 0}, late, allowed}; }
}  // namespace

TEST(LateVerdict, OnTimeAtOrAfterTheWatermarkAndWithoutOne) {
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::drop), 10 * kMinute, 10 * kMinute), LateVerdict::on_time);
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::drop), 0, INT64_MIN), LateVerdict::on_time);
}

TEST(LateVerdict, EachPolicyBehindTheWatermark) {
    const std::int64_t watermark = 10 * kMinute;
    const std::int64_t late = watermark - 1;  // in the window [9 min, 10 min), which ended at the watermark
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::drop), late, watermark), LateVerdict::dropped);
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::dead_letter), late, watermark), LateVerdict::dead_lettered);
    // correct: taken while its window ended less than the allowed lateness before the watermark.
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::correct, 1), late, watermark), LateVerdict::corrected);
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::correct, 0), late, watermark), LateVerdict::dead_lettered);
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::correct, 10 * kMinute), watermark - 11 * kMinute, watermark), LateVerdict::dead_lettered);
    EXPECT_EQ(judge_lateness(minutes(LatePolicy::correct, 10 * kMinute), watermark - 10 * kMinute, watermark), LateVerdict::corrected);
}

TEST(LateVerdict, TheFirstWindowOfARecord) {
    EXPECT_EQ(first_window({WindowKind::tumbling, kMinute, 0, 0}, kMinute + 5), (Window{kMinute, 2 * kMinute}));
    EXPECT_EQ(first_window({WindowKind::hopping, 2 * kMinute, kMinute, 0}, kMinute + 5), (Window{0, 2 * kMinute}));
    EXPECT_EQ(first_window({WindowKind::session, 0, 0, kMinute}, 7), (Window{7, 7 + kMinute}));
}
