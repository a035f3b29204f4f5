// Session windows of one key: a session is the span [first event, last event + gap); two
// sessions whose spans intersect are one session (an event within the gap of a session extends
// it; one that bridges two sessions joins them). Merging is associative and commutative, so a
// session table can be maintained by merging each micro-batch's sessions into the stored ones
// (the stored rows are the state), whatever the batch boundaries, partitions or instances.
// Pure functions; any thread.
#pragma once

#include "window/aggregate_state.h"

#include <cstdint>
#include <vector>

namespace starstream::engine {

struct Session {
    std::int64_t first_us = 0;  ///< event time of the first event (the session's start)
    std::int64_t last_us = 0;   ///< event time of the last event; the session ends at last_us + gap
    AggregateState aggregates;
};

/// Merges sessions of ONE key with gap `gap_us` (> 0): returns the sessions that remain, sorted
/// by first_us, none intersecting another. Sessions sorted or not; O(n log n).
std::vector<Session> merge_sessions(std::vector<Session> sessions, std::int64_t gap_us);

}  // namespace starstream::engine
