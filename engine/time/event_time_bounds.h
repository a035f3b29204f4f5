// Which event times are plausible (DESIGN.md invariant 9): a record whose event time is
// before `min_us` or after now + `max_ahead_us` is a dead letter (`event_time_out_of_range`),
// never a watermark: one millisecond timestamp read as seconds (year 50000), a year-9999
// sentinel or a negative time would otherwise push a partition's watermark to the end of time
// and finalise every open window. Defaults (time.min_event_time, time.max_event_time_ahead_ms):
// 2000-01-01T00:00:00Z and one day, enough for any clock skew between producers.
// Thread rules: a value; any thread.
#pragma once

#include <cstdint>
#include <limits>

namespace starstream::engine {

struct EventTimeBounds {
    std::int64_t min_us = 946684800000000;       ///< Unix microseconds; 2000-01-01T00:00:00Z
    std::int64_t max_ahead_us = 86400000000;     ///< past the wall clock, microseconds

    /// Whether an event time of `seconds` (Unix seconds, as the producer wrote it) lies within
    /// [min_us, now_us + max_ahead_us]. Compares in seconds first, so no value overflows.
    bool admits_seconds(std::int64_t seconds, std::int64_t now_us) const {
        constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1000000;
        if (seconds > kLimit || seconds < -kLimit) return false;
        const std::int64_t us = seconds * 1000000;
        return us >= min_us && us <= now_us + max_ahead_us;
    }
    /// Whether an event time of `us` (Unix microseconds) lies within [min_us, now_us + max_ahead_us].
    bool admits_us(std::int64_t us, std::int64_t now_us) const { return us >= min_us && us <= now_us + max_ahead_us; }
};

}  // namespace starstream::engine
