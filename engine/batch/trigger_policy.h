// When a micro-batch is sealed: after an interval, or at a record or byte limit, whichever
// comes first (the librdkafka consume-batch pattern). Pure value type; any thread.
#pragma once

#include <chrono>
#include <cstddef>

namespace starstream::engine {

struct TriggerPolicy {
    std::chrono::milliseconds interval{1000};  ///< age of a non-empty batch that seals it
    std::size_t max_records = 50000;           ///< records that seal a batch
    std::size_t max_bytes = 64u << 20;         ///< message bytes that seal a batch

    bool full(std::size_t records, std::size_t bytes) const { return records >= max_records || bytes >= max_bytes; }
    /// True when a batch of this size and age must be sealed now. An empty batch never fires.
    bool fires(std::size_t records, std::size_t bytes, std::chrono::steady_clock::duration age) const {
        return records > 0 && (full(records, bytes) || age >= interval);
    }
};

}  // namespace starstream::engine
