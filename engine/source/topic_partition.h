// A Kafka topic partition, the unit of ordering, assignment and checkpointing.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <string>

namespace starstream::engine {

struct TopicPartition {
    std::string topic;
    std::int32_t partition = 0;

    auto operator<=>(const TopicPartition&) const = default;
    std::string to_string() const { return topic + "[" + std::to_string(partition) + "]"; }
};

/// Where a partition stands in a checkpoint: the next offset to read and the owner epoch that
/// fences concurrent writers (see DESIGN.md, invariant 2).
/// PartitionPosition::next_offset of a partition without checkpoint that must start at its log
/// start whatever source.starting_offsets says (a partition added to a topic already consumed).
inline constexpr std::int64_t kFromLogStart = -2;

struct PartitionPosition {
    std::int64_t next_offset = -1;  ///< -1: no checkpoint yet, start from the configured end; kFromLogStart
    std::int64_t epoch = 0;
    std::int64_t watermark_us = std::numeric_limits<std::int64_t>::min();  ///< the partition's event-time watermark; min: none yet
};

}  // namespace starstream::engine
