// The operator's view of starstream.progress: reading checkpoints as they stand, and moving
// them (offsets reset) in one transaction that bumps each partition's epoch, so that a running
// owner is fenced out, notices the move (the epoch changed while owner_instance is still
// itself), claims the partition again and reads from the new position (DESIGN.md invariants 1
// and 2). Rows are locked while they move, so a batch commit racing the reset either commits
// before it (and the reset's "old" offset shows it) or is fenced after it.
//
// Errors: PgError from the connection; a schema without owner_instance (migration 004) fails
// with SQLSTATE 42703 or 42P01: run `starstreamd migrate`. Thread rules: one thread.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "source/topic_partition.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::tools {

/// The connection was lost before COMMIT's reply: the move may or may not have happened.
class CommitOutcomeUnknown : public postgres::PgError {
public:
    using postgres::PgError::PgError;
};

/// One partition's row of starstream.progress.
struct Checkpoint {
    std::optional<std::int64_t> next_offset;  ///< none: claimed, nothing committed yet
    std::int64_t epoch = 0;
    std::optional<std::string> owner_instance;  ///< none before migration 004 or before a claim by a 004 daemon
    std::string updated_at;                    ///< ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.250Z
};

/// The rows of `partitions` that exist (partitions without a row are absent from the map).
/// Throws PgError.
std::map<engine::TopicPartition, Checkpoint> read_checkpoints(postgres::PgConnection& conn,
                                                              const std::vector<engine::TopicPartition>& partitions);

/// The outcome of move_checkpoints for one partition.
struct MovedCheckpoint {
    std::optional<Checkpoint> before;  ///< none: the partition had no row (one was inserted with epoch 1)
    std::int64_t next_offset = 0;      ///< as written
    std::int64_t epoch = 0;            ///< after the bump
};

/// In one transaction: locks the rows of `new_offsets`' partitions, sets next_offset, bumps the
/// epoch and updated_at (inserting a row with epoch 1 where none exists), commits. Returns what
/// each row held before (read under the lock) and holds now. Throws CommitOutcomeUnknown when the
/// COMMIT's reply was lost, else PgError; then nothing moved.
std::map<engine::TopicPartition, MovedCheckpoint> move_checkpoints(postgres::PgConnection& conn,
                                                                   const std::map<engine::TopicPartition, std::int64_t>& new_offsets);

}  // namespace starstream::daemon::tools
