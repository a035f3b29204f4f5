// Watermark alignment (Flink's withWatermarkAlignment, for the partitions of one instance):
// while a backlog is consumed, a partition whose watermark runs more than `max_drift` ahead of
// the slowest partition is paused, and resumed once it is within `max_drift` again, so that the
// watermark trails by minutes rather than hours and windowed state and late counts stay small.
// The poll loop decides again as soon as a record takes a watermark past the decision's ceiling,
// so a partition overshoots the slowest + max_drift by at most one record's step.
//
// The slowest partition is the one with the lowest watermark among those with backlog (not
// caught up): holding the others helps only a partition that has records to read; a caught-up
// one moves on with new records alone (and holds the topic's watermark where it is meanwhile,
// which is what keeps windows correct). A partition with backlog but no watermark yet counts as
// the slowest possible (kNoWatermark): nobody knows where its event time starts. It can never stall:
//  - the slowest partition, a partition without watermark and a caught-up partition (nothing to
//    hold back; pausing it would freeze its end-of-partition state while new records arrive)
//    are never paused, so the slowest one always moves on, or reaches its end; nor is one that
//    has not delivered a record since its assignment (its watermark is only the one restored
//    from its checkpoint), which is held after its first record if it runs ahead;
//  - when no partition qualifies as the slowest, nothing is paused.
// No hysteresis: a held partition resumes as soon as it is within max_drift of the slowest.
// Resuming only within max_drift / 2 was no faster on a 24 h backlog (tests/integration/
// test_watermark_alignment.py: 37 s against 35 s, when a hold still paused the partition).
// "Pause" here means hold back: KafkaSource takes no record from the partition's own queue.
// This class only decides; the poll loop applies the decision (KafkaSource::hold_for_alignment).
// Times are microseconds (event time, Unix epoch). Thread rules: immutable, any thread.
#pragma once

#include "source/topic_partition.h"
#include "time/watermark_tracker.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <vector>

namespace starstream::engine {

/// One owned partition as alignment sees it.
struct AlignedPartition {
    TopicPartition tp;
    std::int64_t watermark_us = kNoWatermark;  ///< WatermarkTracker::partition_watermark
    bool caught_up = false;                    ///< its position reached its high watermark
    bool idle = false;                         ///< no record for the idle timeout (WatermarkTracker::quiet): waiting for it moves nothing
    bool started = true;                       ///< delivered a record since its assignment (else never paused)
};

/// What alignment wants now.
struct AlignmentDecision {
    /// The partitions to hold back (pause); every other partition is to be fetched.
    std::set<TopicPartition> pause;
    /// A partition whose watermark passes this (microseconds) runs too far ahead: decide again
    /// at once rather than at the end of the poll burst. Max when nothing can be held back.
    std::int64_t ceiling_us = std::numeric_limits<std::int64_t>::max();
    /// The slowest partition and its watermark (kNoWatermark: one without a watermark yet), for
    /// logs; empty when no partition qualifies.
    std::optional<TopicPartition> slowest;
    std::int64_t slowest_watermark_us = kNoWatermark;
};

class WatermarkAlignment {
public:
    /// `max_drift_us`: how far (microseconds of event time) a partition's watermark may run
    /// ahead of the slowest one; <= 0 disables alignment (decide() never pauses).
    explicit WatermarkAlignment(std::int64_t max_drift_us) : max_drift_us_(max_drift_us) {}

    bool enabled() const { return max_drift_us_ > 0; }
    /// The partitions to pause among `partitions` (the owned ones, in any order, watermarks in
    /// microseconds; a partition listed twice counts once), the ceiling and the slowest. Pure:
    /// the same input gives the same decision. Throws nothing but std::bad_alloc.
    AlignmentDecision decide(const std::vector<AlignedPartition>& partitions) const;

private:
    std::int64_t max_drift_us_;
};

}  // namespace starstream::engine
