#include "time/watermark_tracker.h"

#include <algorithm>

namespace starstream::engine {

void WatermarkTracker::assign(const TopicPartition& tp, std::int64_t restored_watermark_us, std::int64_t now_us) {
    Partition& p = partitions_[tp];
    p.watermark = std::max(p.watermark, restored_watermark_us);
    p.last_activity_us = std::max(p.last_activity_us, now_us);
    p.caught_up = false;  // unknown until the source says so: never idle by assumption
}

std::int64_t WatermarkTracker::observe(const TopicPartition& tp, std::int64_t event_time_us, std::int64_t now_us) {
    Partition& p = partitions_[tp];
    if (policy_.max_ahead_us >= 0) event_time_us = std::min(event_time_us, now_us + policy_.max_ahead_us);
    p.watermark = std::max(p.watermark, event_time_us - policy_.out_of_orderness_us);
    p.last_activity_us = now_us;
    return p.watermark;
}

void WatermarkTracker::set_caught_up(const TopicPartition& tp, bool caught_up, std::int64_t now_us) {
    Partition& p = partitions_[tp];
    if (caught_up && !p.caught_up) p.last_activity_us = std::max(p.last_activity_us, now_us);  // quiet from now on
    p.caught_up = caught_up;
}

std::int64_t WatermarkTracker::partition_watermark(const TopicPartition& tp) const {
    auto it = partitions_.find(tp);
    return it == partitions_.end() ? kNoWatermark : it->second.watermark;
}

std::int64_t WatermarkTracker::committed_watermark(const TopicPartition& tp, std::int64_t now_us) const {
    const std::int64_t own = partition_watermark(tp);
    // Idle: caught up and quiet, so nothing it still holds can arrive below now - bound.
    return idle(tp, now_us) ? std::max(own, now_us - policy_.out_of_orderness_us) : own;
}

bool WatermarkTracker::idle(const TopicPartition& tp, std::int64_t now_us) const {
    auto it = partitions_.find(tp);
    return it != partitions_.end() && it->second.caught_up && now_us - it->second.last_activity_us >= policy_.idle_timeout_us;
}

bool WatermarkTracker::quiet(const TopicPartition& tp, std::int64_t now_us) const {
    auto it = partitions_.find(tp);
    return it == partitions_.end() || now_us - it->second.last_activity_us >= policy_.idle_timeout_us;
}

std::int64_t WatermarkTracker::advance(std::int64_t now_us) {
    if (partitions_.empty()) return watermark_;
    std::int64_t candidate = std::numeric_limits<std::int64_t>::max();
    bool any_active = false;
    for (const auto& [tp, p] : partitions_) {
        if (idle(tp, now_us)) continue;
        any_active = true;
        candidate = std::min(candidate, p.watermark);
    }
    // Every partition caught up and quiet: nothing can arrive below now - bound from them.
    if (!any_active) candidate = now_us - policy_.out_of_orderness_us;
    if (candidate != kNoWatermark) watermark_ = std::max(watermark_, candidate);
    return watermark_;
}

}  // namespace starstream::engine
