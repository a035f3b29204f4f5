// The checkpoint side of starstream.progress: claiming partitions on assignment (bumping
// their owner epoch, reading their next offsets) and reading the last batch id.
// Batch commits update the same rows through StarBatchWriter, fenced by the epoch.
// Thread rules: one thread (the poll thread); owns its connection and reconnects after a
// transient failure on the next call.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "source/topic_partition.h"

#include <map>
#include <memory>
#include <vector>

namespace starstream::daemon::postgres {

class ProgressStore {
public:
    /// Connects at once; throws PgError (transient) when Postgres cannot be reached.
    explicit ProgressStore(PgSettings settings);

    /// Takes ownership of `partitions`: increments each one's epoch (creating rows as needed)
    /// and returns the new epoch and the committed next offset (-1 if none). Throws PgError.
    std::map<engine::TopicPartition, engine::PartitionPosition> claim(const std::vector<engine::TopicPartition>& partitions);

    /// The highest committed batch id, 0 before the first batch. Throws PgError.
    std::int64_t last_batch_id();

private:
    PgConnection& connection();

    PgSettings settings_;
    std::unique_ptr<PgConnection> conn_;
};

/// Postgres array literal of text values, e.g. {"a","b"} (quotes and backslashes escaped).
std::string text_array(const std::vector<std::string>& values);

}  // namespace starstream::daemon::postgres
