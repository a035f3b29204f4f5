#include "time/watermark_alignment.h"

#include <gtest/gtest.h>

#include <algorithm>

using starstream::engine::AlignedPartition;
using starstream::engine::AlignmentDecision;
using starstream::engine::kNoWatermark;
using starstream::engine::TopicPartition;
using starstream::engine::WatermarkAlignment;

namespace {

constexpr std::int64_t kDrift = 600;  // microseconds, small numbers read better than 10 minutes
const TopicPartition p0{"t", 0}, p1{"t", 1}, p2{"t", 2}, p3{"t", 3};

AlignedPartition backlog(const TopicPartition& tp, std::int64_t watermark) { return {tp, watermark, false, false}; }
AlignedPartition caught_up(const TopicPartition& tp, std::int64_t watermark, bool idle = false) { return {tp, watermark, true, idle}; }

std::set<TopicPartition> paused(const std::vector<AlignedPartition>& partitions) {
    return WatermarkAlignment(kDrift).decide(partitions).pause;
}

}  // namespace

TEST(WatermarkAlignment, PausesPartitionsMoreThanTheDriftAheadOfTheSlowest) {
    const AlignmentDecision d = WatermarkAlignment(kDrift).decide(
        {backlog(p0, 10'000), backlog(p1, 1000), backlog(p2, 1000 + kDrift), backlog(p3, 1000 + kDrift + 1)});
    EXPECT_EQ(d.pause, (std::set{p0, p3}));
    ASSERT_TRUE(d.slowest);
    EXPECT_EQ(*d.slowest, p1);
    EXPECT_EQ(d.slowest_watermark_us, 1000);
    EXPECT_EQ(d.ceiling_us, 1000 + kDrift);
}

TEST(WatermarkAlignment, ZeroDriftDisablesIt) {
    const AlignmentDecision d = WatermarkAlignment(0).decide({backlog(p0, 1'000'000), backlog(p1, 0)});
    EXPECT_TRUE(d.pause.empty());
    EXPECT_EQ(d.ceiling_us, std::numeric_limits<std::int64_t>::max());
    EXPECT_FALSE(WatermarkAlignment(0).enabled());
    EXPECT_TRUE(WatermarkAlignment(-5).decide({backlog(p0, 1'000'000), backlog(p1, 0)}).pause.empty());
}

TEST(WatermarkAlignment, APartitionWithBacklogAndNoWatermarkHoldsEveryOtherBackButIsNeverPaused) {
    const AlignmentDecision d = WatermarkAlignment(kDrift).decide({backlog(p0, 5000), backlog(p1, kNoWatermark), backlog(p2, kNoWatermark)});
    EXPECT_EQ(d.pause, std::set{p0});
    EXPECT_EQ(d.slowest_watermark_us, kNoWatermark);
    EXPECT_LT(d.ceiling_us, 0);  // the first record of p1 or p2 makes the poll loop decide again
}

TEST(WatermarkAlignment, ACaughtUpPartitionWithoutWatermarkHoldsNothingBack) {
    // An empty partition: nothing to wait for.
    EXPECT_TRUE(paused({backlog(p0, 5000), backlog(p1, 1000), caught_up(p2, kNoWatermark)}).count(p0));
    EXPECT_TRUE(paused({backlog(p0, 5000), caught_up(p2, kNoWatermark)}).empty());
}

TEST(WatermarkAlignment, ACaughtUpPartitionHoldsNothingBackEvenWithAWatermark) {
    // Holding the others would not move it: it has nothing left to read.
    EXPECT_TRUE(paused({backlog(p0, 5000), caught_up(p1, 1000)}).empty());
    EXPECT_TRUE(paused({backlog(p0, 5000), caught_up(p1, 1000, /*idle=*/true)}).empty());
    EXPECT_EQ(paused({backlog(p0, 5000), caught_up(p1, 1000), backlog(p2, 2000)}), std::set{p0});
}

TEST(WatermarkAlignment, NothingQualifiesAsSlowestNothingIsPaused) {
    const AlignmentDecision d = WatermarkAlignment(kDrift).decide({caught_up(p0, 5000, true), caught_up(p1, kNoWatermark)});
    EXPECT_TRUE(d.pause.empty());
    EXPECT_FALSE(d.slowest);
    EXPECT_EQ(d.ceiling_us, std::numeric_limits<std::int64_t>::max());
    EXPECT_TRUE(WatermarkAlignment(kDrift).decide({}).pause.empty());
}

TEST(WatermarkAlignment, ACaughtUpPartitionIsNeverPausedHoweverFarAhead) {
    // Pausing it would gain nothing and freeze its end-of-partition state.
    EXPECT_TRUE(paused({caught_up(p0, 1'000'000), backlog(p1, 1000)}).empty());
}

TEST(WatermarkAlignment, TheSlowestIsNeverPaused) {
    // p0 was held, then p1 overtook it: p0 is the slowest now and must move.
    EXPECT_EQ(paused({backlog(p0, 1000), backlog(p1, 1000 + 2 * kDrift)}), std::set{p1});
    // Ties: every partition at the lowest watermark is the slowest.
    EXPECT_TRUE(paused({backlog(p0, 1000), backlog(p1, 1000)}).empty());
}

TEST(WatermarkAlignment, AHeldPartitionResumesAsSoonAsItIsWithinTheDrift) {
    const std::int64_t slowest = 1000;
    EXPECT_EQ(paused({backlog(p0, slowest), backlog(p1, slowest + kDrift + 1)}), std::set{p1});
    EXPECT_TRUE(paused({backlog(p0, slowest), backlog(p1, slowest + kDrift)}).empty());
}

TEST(WatermarkAlignment, NoOverflowNearTheLimits) {
    const std::int64_t high = std::numeric_limits<std::int64_t>::max() - 10;
    const AlignmentDecision d = WatermarkAlignment(kDrift).decide({backlog(p0, high), backlog(p1, high - 5)});
    EXPECT_TRUE(d.pause.empty());
    EXPECT_EQ(d.ceiling_us, std::numeric_limits<std::int64_t>::max());
}

// Whatever the partitions' state, alignment cannot stall a backlog: the slowest partition is
// one with backlog and is never paused, so some partition with backlog is always fetched.
TEST(WatermarkAlignment, NeverStallsABacklog) {
    const std::int64_t watermarks[] = {kNoWatermark, 0, 300, 601, 5000};
    const TopicPartition tps[] = {p0, p1, p2};
    const WatermarkAlignment alignment(kDrift);
    for (int w = 0; w < 125; ++w)
        for (int flags = 0; flags < 512; ++flags) {
            std::vector<AlignedPartition> parts;
            for (int i = 0, rest = w; i < 3; ++i, rest /= 5) {
                const int bits = flags >> (3 * i);
                const bool up = bits & 1, idle = up && (bits & 2), started = !(bits & 4);
                parts.push_back({tps[i], watermarks[rest % 5], up, idle, started});
            }
            const AlignmentDecision d = alignment.decide(parts);
            bool any_backlog = false, fetched = false;
            for (const auto& p : parts) {
                const bool never_paused = p.caught_up || p.watermark_us == kNoWatermark || !p.started || (d.slowest && *d.slowest == p.tp);
                EXPECT_FALSE(never_paused && d.pause.count(p.tp)) << w << " " << flags;
                if (p.caught_up) continue;
                any_backlog = true;
                fetched = fetched || !d.pause.count(p.tp);
            }
            EXPECT_TRUE(fetched || !any_backlog) << w << " " << flags;
        }
}

TEST(WatermarkAlignment, APartitionThatDeliveredNothingYetIsNeverPausedButHoldsOthersBack) {
    AlignedPartition restored = backlog(p0, 10'000);  // a watermark from the checkpoint, no record yet
    restored.started = false;
    EXPECT_TRUE(paused({restored, backlog(p1, 1000)}).empty());
    restored.watermark_us = 0;
    EXPECT_EQ(paused({restored, backlog(p1, 1000)}), std::set{p1});
}
