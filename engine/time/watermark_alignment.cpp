#include "time/watermark_alignment.h"

namespace starstream::engine {

namespace {

/// a + b for b >= 0, saturating at the largest value instead of overflowing.
std::int64_t plus(std::int64_t a, std::int64_t b) {
    return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max() : a + b;
}

/// Whether `p` can hold the others back: only a partition with backlog. Holding the others
/// helps a partition catch up only while it has records to read; a caught-up one moves on
/// with new records alone, whatever the others do (and an idle one is ignored by the
/// watermark too).
bool may_be_slowest(const AlignedPartition& p) { return !p.idle && !p.caught_up; }

}  // namespace

AlignmentDecision WatermarkAlignment::decide(const std::vector<AlignedPartition>& partitions) const {
    AlignmentDecision decision;
    if (!enabled()) return decision;
    for (const auto& p : partitions) {
        if (!may_be_slowest(p) || (decision.slowest && p.watermark_us >= decision.slowest_watermark_us)) continue;
        decision.slowest = p.tp;
        decision.slowest_watermark_us = p.watermark_us;
    }
    if (!decision.slowest) return decision;
    decision.ceiling_us = plus(decision.slowest_watermark_us, max_drift_us_);
    for (const auto& p : partitions) {
        // Never the slowest (ties included), one without a watermark, one without backlog, or one
        // that has not delivered a record yet.
        if (p.watermark_us == kNoWatermark || p.watermark_us <= decision.slowest_watermark_us || p.caught_up || !p.started) continue;
        if (p.watermark_us > decision.ceiling_us) decision.pause.insert(p.tp);
    }
    return decision;
}

}  // namespace starstream::engine
