// What `starstreamd offsets show|reset` print: one line per partition, as an aligned text
// table for people or as one JSON document (nlohmann::json) for scripts. Offsets are Kafka
// offsets (records), times ISO 8601 UTC. Thread rules: pure functions.
#pragma once

#include "source/log_offsets.h"
#include "tools/checkpoint_table.h"
#include "tools/offsets_arguments.h"

#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::tools {

/// One line of `offsets show`.
struct PartitionStatus {
    engine::TopicPartition tp;
    std::optional<Checkpoint> checkpoint;  ///< none: no row in starstream.progress
    engine::LogRange log;
    /// log end - checkpoint; without a committed checkpoint, log end - log start (all of it).
    std::int64_t lag() const;
};

/// One line of `offsets reset`.
struct PartitionMove {
    engine::TopicPartition tp;
    std::optional<std::int64_t> old_offset;  ///< none: no checkpoint before
    std::int64_t new_offset = 0;
    engine::LogRange log;
    std::optional<std::int64_t> epoch;  ///< after the bump; none on --dry-run
    std::string basis;                  ///< why this offset: "log start", "first record at or after ...", ...
};

/// Columns TOPIC PARTITION CHECKPOINT LOG-START LOG-END LAG OWNER EPOCH UPDATED ("-" when
/// unknown), or {"partitions": [{"topic", "partition", "checkpoint", "log_start", "log_end",
/// "lag", "owner_instance", "epoch", "updated_at"}]} with null for unknown.
std::string render_status(const std::vector<PartitionStatus>& lines, OutputFormat format);

/// Columns TOPIC PARTITION OLD NEW LOG-START LOG-END EPOCH BASIS and a closing sentence, or
/// {"to", "dry_run", "partitions": [{"topic", "partition", "old", "new", "log_start", "log_end",
/// "epoch", "basis"}]}.
std::string render_moves(const std::vector<PartitionMove>& lines, const ResetTarget& to, bool dry_run, OutputFormat format);

}  // namespace starstream::daemon::tools
