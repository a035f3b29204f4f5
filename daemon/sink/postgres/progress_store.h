// The checkpoint side of starstream.progress: claiming partitions on assignment (bumping
// their owner epoch, recording this instance as owner, reading their next offsets) and
// re-reading owned partitions' epochs and owners (an operator's reset bumps the epoch).
// Batch commits update the same rows through BatchLedger, fenced by the epoch.
// Thread rules: one thread (the poll thread); owns its connection and reconnects after a
// transient failure on the next call.
#pragma once

#include "checkpoint/checkpoint_store.h"
#include "sink/postgres/pg_connection.h"
#include "source/topic_partition.h"

#include <map>
#include <memory>
#include <vector>

namespace starstream::daemon::postgres {

class ProgressStore final : public engine::CheckpointStore {
public:
    /// Connects at once; throws PgError (transient) when Postgres cannot be reached.
    /// `abort_flag` abandons a call in progress (see PgConnection); may be null.
    ProgressStore(PgSettings settings, std::string instance_id, const std::atomic<bool>* abort_flag = nullptr);

    /// Takes ownership of `partitions` for this instance: increments each one's epoch (creating
    /// rows as needed) and returns the new epoch, the committed next offset and watermark. A
    /// partition without checkpoint gets -1, or engine::kFromLogStart when another partition of
    /// its topic has one (a partition added to a topic already consumed starts at its
    /// beginning, whatever source.starting_offsets says). Throws PgError.
    std::map<engine::TopicPartition, engine::PartitionPosition> claim(const std::vector<engine::TopicPartition>& partitions) override;

    /// Creates a row (no checkpoint, no owner, epoch 0, no watermark) for each of `partitions`
    /// that has none, so that the window watermark (the minimum over the rows) waits for every
    /// partition of the topic from the start, not only for those some instance claimed already.
    /// Throws PgError.
    void register_partitions(const std::vector<engine::TopicPartition>& partitions) override;

    /// The current epoch and owner (owner_instance) of each of `partitions` that has a row.
    /// Throws PgError.
    std::map<engine::TopicPartition, Owner> owners(const std::vector<engine::TopicPartition>& partitions) override;

private:
    PgConnection& connection();

    PgSettings settings_;
    std::string instance_id_;
    const std::atomic<bool>* abort_flag_;
    std::unique_ptr<PgConnection> conn_;
};

/// Postgres array literal of text values, e.g. {"a","b"} (quotes and backslashes escaped).
std::string text_array(const std::vector<std::string>& values);

}  // namespace starstream::daemon::postgres
