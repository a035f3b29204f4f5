#include "time/watermark_tracker.h"

#include <gtest/gtest.h>

using starstream::engine::kNoWatermark;
using starstream::engine::TopicPartition;
using starstream::engine::WatermarkPolicy;
using starstream::engine::WatermarkTracker;

namespace {
const TopicPartition p0{"t", 0}, p1{"t", 1};
constexpr std::int64_t kBound = 10, kIdle = 100;
}  // namespace

TEST(WatermarkTracker, PartitionWatermarkIsMaxMinusBoundAndNeverGoesBack) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    EXPECT_EQ(w.partition_watermark(p0), kNoWatermark);
    w.observe(p0, 100, 0);
    w.observe(p0, 50, 0);
    EXPECT_EQ(w.partition_watermark(p0), 90);
    w.observe(p0, 120, 0);
    EXPECT_EQ(w.partition_watermark(p0), 110);
}

TEST(WatermarkTracker, OperatorWatermarkIsTheMinimumOverActivePartitions) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.assign(p1);
    w.observe(p0, 500, 0);
    EXPECT_EQ(w.advance(0), kNoWatermark);  // p1 has seen nothing yet: it holds the watermark back
    w.observe(p1, 200, 0);
    EXPECT_EQ(w.advance(0), 190);
    w.observe(p1, 100, 0);
    EXPECT_EQ(w.advance(0), 190);  // never back
}

TEST(WatermarkTracker, AQuietPartitionWithBacklogIsNeverIdle) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.assign(p1);
    w.observe(p0, 1000, 0);
    w.observe(p1, 200, 0);
    w.set_caught_up(p1, false, 0);
    EXPECT_EQ(w.advance(1'000'000), 190);  // p1 silent for long, but it has backlog
    EXPECT_FALSE(w.idle(p1, 1'000'000));
    w.set_caught_up(p1, true, 1'000'000);
    EXPECT_EQ(w.advance(1'000'000 + kIdle - 1), 190);  // caught up, not yet quiet long enough
    EXPECT_EQ(w.advance(1'000'000 + kIdle), 990);      // idle now: p0 alone decides
}

TEST(WatermarkTracker, AllCaughtUpAndQuietAdvancesWithProcessingTime) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.observe(p0, 1000, 0);
    w.set_caught_up(p0, true, 0);
    EXPECT_EQ(w.advance(50), 990);
    EXPECT_EQ(w.advance(5000), 4990);
    w.observe(p0, 3000, 5000);  // a new record: active again, but the watermark does not go back
    w.set_caught_up(p0, false, 5000);
    EXPECT_EQ(w.advance(5000), 4990);
}

TEST(WatermarkTracker, RestoredWatermarkHoldsAfterReassignment) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0, 700);
    w.observe(p0, 100, 0);
    EXPECT_EQ(w.partition_watermark(p0), 700);
    w.revoke(p0);
    EXPECT_EQ(w.partition_watermark(p0), kNoWatermark);
}

TEST(WatermarkTracker, NoPartitionWatermarkPassesTheWallClockCeiling) {
    WatermarkPolicy policy{kBound, kIdle};
    policy.max_ahead_us = 1000;
    WatermarkTracker w(policy);
    w.assign(p0);
    w.observe(p0, 253402300799000000, 5000);  // 9999-12-31 against a wall clock of 5000 µs
    EXPECT_EQ(w.partition_watermark(p0), 5000 + 1000 - kBound);
}

TEST(WatermarkTracker, WithNoAllowanceAFutureEventCarriesTheWatermarkToTheWallClockOnly) {
    WatermarkPolicy policy{kBound, kIdle};
    policy.max_ahead_us = 0;  // as the daemon runs it
    WatermarkTracker w(policy);
    w.assign(p0);
    w.observe(p0, 4000, 5000);
    EXPECT_EQ(w.partition_watermark(p0), 4000 - kBound);
    w.observe(p0, 5000 + 72'000'000'000, 5000);  // a device clock 20 h ahead
    EXPECT_EQ(w.partition_watermark(p0), 5000 - kBound);
}

// What a partition commits to starstream.progress.watermark, where the topic's watermark is the
// minimum over every partition: an idle one must not hold the topic back.
TEST(WatermarkTracker, AnIdlePartitionWithoutRecordsCommitsNowMinusTheBound) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    EXPECT_EQ(w.committed_watermark(p0, 0), kNoWatermark);  // caught up or not: unknown yet
    w.set_caught_up(p0, true, 1000);
    EXPECT_EQ(w.committed_watermark(p0, 1000 + kIdle - 1), kNoWatermark);  // caught up, not yet quiet long enough
    EXPECT_EQ(w.committed_watermark(p0, 1000 + kIdle), 1000 + kIdle - kBound);
    EXPECT_EQ(w.partition_watermark(p0), kNoWatermark);  // its own watermark is untouched
}

TEST(WatermarkTracker, AnIdlePartitionCommitsTheLaterOfItsOwnWatermarkAndNowMinusTheBound) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.observe(p0, 5000, 0);  // event time ahead of the wall clock (within the allowed ceiling)
    w.set_caught_up(p0, true, 0);
    EXPECT_EQ(w.committed_watermark(p0, kIdle), 4990);
    EXPECT_EQ(w.committed_watermark(p0, 9000), 8990);
}

TEST(WatermarkTracker, ABusyPartitionCommitsItsOwnWatermark) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.assign(p1);
    w.observe(p0, 200, 0);
    w.set_caught_up(p0, false, 0);
    EXPECT_EQ(w.committed_watermark(p0, 1'000'000), 190);  // silent for long, but it has backlog
    EXPECT_EQ(w.committed_watermark(p1, 1'000'000), kNoWatermark);  // never caught up: never idle
    w.set_caught_up(p0, true, 1'000'000);
    EXPECT_EQ(w.committed_watermark(p0, 1'000'000 + kIdle - 1), 190);  // caught up but not yet quiet
    w.observe(p0, 300, 1'000'000 + kIdle - 1);                          // a record: quiet again from here
    EXPECT_EQ(w.committed_watermark(p0, 1'000'000 + kIdle), 290);
    EXPECT_EQ(w.committed_watermark({"t", 9}, 1'000'000), kNoWatermark);  // not tracked
}

// Watermark alignment does not wait for a partition that delivers nothing (its leader offline):
// quiet is about records, caught up or not; idle needs both.
TEST(WatermarkTracker, APartitionWithoutRecordsForTheIdleTimeoutIsQuietEvenWithBacklog) {
    WatermarkTracker w({kBound, kIdle});
    w.assign(p0);
    w.observe(p0, 1000, 10);
    EXPECT_FALSE(w.quiet(p0, 10 + kIdle - 1));
    EXPECT_TRUE(w.quiet(p0, 10 + kIdle));
    EXPECT_FALSE(w.idle(p0, 10 + kIdle));  // not caught up: never idle
    w.observe(p0, 1001, 10 + kIdle);
    EXPECT_FALSE(w.quiet(p0, 10 + kIdle));
    // A partition newly assigned at 500 that delivers nothing turns quiet an idle timeout later.
    w.assign(p1, kNoWatermark, 500);
    EXPECT_FALSE(w.quiet(p1, 500 + kIdle - 1));
    EXPECT_TRUE(w.quiet(p1, 500 + kIdle));
}
