// Event-time watermarks per partition and for the operator (DESIGN.md, invariant 4).
//
// Partition watermark = max event time seen - allowed out-of-orderness; it never moves back.
// Operator watermark = min over the active partitions, never moving back. A partition is
// idle only when it is caught up (its position reached its high watermark) AND has been quiet
// for `idle_timeout`: a partition with backlog is never idle, so no record it still holds can
// turn late. When every assigned partition is idle, the operator watermark advances with
// processing time (now - out-of-orderness), so the last windows close on a quiet topic.
// Times are microseconds (Unix epoch for event time, any monotonic origin is NOT allowed:
// `now_us` must be wall-clock Unix microseconds, as event times are).
// Thread rules: one thread.
#pragma once

#include "source/topic_partition.h"

#include <cstdint>
#include <limits>
#include <map>

namespace starstream::engine {

inline constexpr std::int64_t kNoWatermark = std::numeric_limits<std::int64_t>::min();

struct WatermarkPolicy {
    std::int64_t out_of_orderness_us = 0;  ///< allowed disorder, e.g. 5 min = 300'000'000
    std::int64_t idle_timeout_us = 0;      ///< quiet time after which a caught-up partition is idle
    /// An event time is counted as at most now + this, so that no partition watermark passes the
    /// wall clock by more; negative: no ceiling. The daemon uses 0: an event dated in the future
    /// (a producer's wrong clock, accepted as a fact up to time.max_event_time_ahead_ms) must not
    /// carry the topic's watermark past the present, where every on-time record would be late.
    std::int64_t max_ahead_us = -1;
};

class WatermarkTracker {
public:
    explicit WatermarkTracker(WatermarkPolicy policy) : policy_(policy) {}

    /// Starts tracking a partition, e.g. on assignment, with a restored watermark (checkpoint).
    /// `now_us` starts its quiet time: a partition that delivers nothing for the idle timeout
    /// after its assignment is quiet.
    void assign(const TopicPartition& tp, std::int64_t restored_watermark_us = kNoWatermark, std::int64_t now_us = 0);
    /// Stops tracking a revoked partition (its watermark no longer holds the operator back).
    void revoke(const TopicPartition& tp) { partitions_.erase(tp); }
    /// A record with `event_time_us` was read from `tp` at wall time `now_us`. Returns the
    /// partition's watermark afterwards (the poll loop compares it with the alignment ceiling
    /// without a second lookup).
    std::int64_t observe(const TopicPartition& tp, std::int64_t event_time_us, std::int64_t now_us);
    /// Whether `tp`'s position has reached its high watermark (no backlog), as of `now_us`.
    void set_caught_up(const TopicPartition& tp, bool caught_up, std::int64_t now_us);

    /// The partition's watermark; kNoWatermark before its first record.
    std::int64_t partition_watermark(const TopicPartition& tp) const;
    /// The watermark `tp` commits with its offset at wall time `now_us` (microseconds), which
    /// the topic's watermark (the minimum over every partition's committed watermark, all
    /// instances) is judged by. An idle partition commits max(its watermark, now_us -
    /// out_of_orderness), as the operator watermark advances when all partitions are idle;
    /// otherwise, or when `tp` is not tracked, this is partition_watermark(tp). Without this an
    /// idle partition, above all one that never had a record (kNoWatermark, a NULL in the
    /// progress table), would hold the whole topic back for as long as it stays quiet.
    std::int64_t committed_watermark(const TopicPartition& tp, std::int64_t now_us) const;
    /// Advances and returns the operator watermark at wall time `now_us` (never decreases).
    std::int64_t advance(std::int64_t now_us);
    /// The operator watermark as last advanced.
    std::int64_t watermark() const { return watermark_; }
    bool idle(const TopicPartition& tp, std::int64_t now_us) const;
    /// Whether `tp` delivered no record (and reached no end) for the idle timeout, caught up or
    /// not: e.g. its leader is offline. Watermark alignment does not wait for such a partition.
    bool quiet(const TopicPartition& tp, std::int64_t now_us) const;

private:
    struct Partition {
        std::int64_t watermark = kNoWatermark;
        std::int64_t last_activity_us = 0;
        bool caught_up = false;
    };
    WatermarkPolicy policy_;
    std::map<TopicPartition, Partition> partitions_;
    std::int64_t watermark_ = kNoWatermark;
};

}  // namespace starstream::engine
