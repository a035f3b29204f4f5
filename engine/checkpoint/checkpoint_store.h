// Where partition positions and owner epochs live (the checkpoint side of DESIGN.md invariants
// 1 and 2): the driver claims partitions on assignment, registers a topic's partitions before any
// claim, and re-reads owners to follow fencing and operators' resets. The daemon implements it
// on Postgres (daemon/sink/postgres/progress_store.h), where batch commits move the same rows.
// Thread rules: per implementation; the driver calls it from the poll thread only.
#pragma once

#include "source/topic_partition.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace starstream::engine {

/// A store or sink call that failed. transient(): the same call may succeed later (a lost
/// connection, a deadlock), so the driver retries; otherwise it stops.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    virtual bool transient() const = 0;
};

class CheckpointStore {
public:
    virtual ~CheckpointStore() = default;

    /// Takes ownership of `partitions` for this instance: each one's epoch goes up by one, and
    /// the new epoch, the committed next offset and watermark come back. A partition without
    /// checkpoint gets next_offset -1, or kFromLogStart when another partition of its topic has
    /// one (added to a topic already consumed: it starts at its beginning). Throws StoreError.
    virtual std::map<TopicPartition, PartitionPosition> claim(const std::vector<TopicPartition>& partitions) = 0;

    /// Records every partition of the topics (no checkpoint, no owner) before any claim, so that
    /// the topic's watermark waits for all of them from the start. Throws StoreError.
    virtual void register_partitions(const std::vector<TopicPartition>& partitions) = 0;

    struct Owner {
        std::int64_t epoch = 0;
        std::string instance;  ///< "" when unknown
    };
    /// The current epoch and owner of each of `partitions` the store knows. Throws StoreError.
    virtual std::map<TopicPartition, Owner> owners(const std::vector<TopicPartition>& partitions) = 0;
};

}  // namespace starstream::engine
