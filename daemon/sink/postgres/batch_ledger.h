// The starstream.* rows every micro-batch writes in its transaction, whatever its pipeline
// (DESIGN.md invariants 1, 2, 3 and 10): its dead letters, the progress rows fenced by the owner
// epoch, the offset gaps, and the batch row whose presence proves the COMMIT landed. Also the
// batch id sequence and the two calls that settle a COMMIT whose reply was lost.
// Thread rules: the sink thread; uses the writer's connection (inside its open transaction for
// the write calls).
#pragma once

#include "batch/micro_batch.h"
#include "driver/batch_sink.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/temp_table_name.h"

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

namespace starstream::daemon::postgres {

/// Another instance owns these partitions now (their epoch moved on); nothing was written.
class FencedError : public std::runtime_error {
public:
    explicit FencedError(std::set<engine::TopicPartition> partitions)
        : std::runtime_error("partitions fenced by a newer owner"), partitions_(std::move(partitions)) {}
    const std::set<engine::TopicPartition>& partitions() const { return partitions_; }

private:
    std::set<engine::TopicPartition> partitions_;
};

/// What the batch row records besides the batch's header.
struct BatchTotals {
    std::int64_t facts_inserted = 0;
    std::int64_t duplicates = 0;
    std::int64_t dead_letters = 0;
    std::int64_t min_event_time_us = INT64_MAX, max_event_time_us = INT64_MIN;  ///< of the batch's facts; none when min > max
    std::int64_t window_watermark_us = INT64_MIN;  ///< the window watermark lateness was judged against; INT64_MIN: none
    std::array<std::uint64_t, 3> late{};           ///< late records per engine::LatePolicy, every table together
};

class BatchLedger {
public:
    /// Creates the dead-letter staging table on `conn` (a session temp table). Throws PgError.
    BatchLedger(PgConnection& conn, BinaryCopyWriter& copy, std::string instance_id);

    /// A new batch id from starstream.batch_id_seq (unique across instances). Throws PgError.
    std::int64_t next_batch_id();
    /// Whether the batch `batch_id` is committed: decides a COMMIT whose reply was lost. Throws PgError.
    bool landed(std::int64_t batch_id);
    /// The dead letters Postgres refused (with a SQLSTATE) in batches committed after the last
    /// batch, of any instance or pipeline, that inserted facts: where a restarted daemon's count
    /// towards postgres.max_rejected_records resumes. Throws PgError.
    std::int64_t refused_since_facts();
    /// Terminates the server process `pid` (a connection given up on) and waits up to 5 s for it
    /// to end, so that its open transaction is settled; returns whether it is gone (a process
    /// gone already is). Throws PgError.
    bool settle_backend(int pid);

    /// Copies the batch's dead letters (a record read again after a rewind is not an error);
    /// returns the rows inserted and the ones already there. Throws PgError.
    engine::TableRows copy_dead_letters(const engine::MicroBatch& batch);
    /// Moves every checkpoint partition's next offset and watermark (which never goes back),
    /// fenced by its epoch. Throws FencedError naming the partitions whose epoch moved on.
    void update_progress(const engine::MicroBatch& batch);
    /// Records the batch's offset gaps. Throws PgError.
    void record_offset_gaps(const engine::MicroBatch& batch);
    /// Inserts the batch row, last. Throws PgError.
    void insert_batch_row(const engine::MicroBatch& batch, const BatchTotals& totals);

private:
    PgConnection& conn_;
    BinaryCopyWriter& copy_;
    std::string instance_id_;
    /// The dead letters' staging table: "stage$<n>$dead_letter" (temp_table_name.h), which no
    /// spec table's name can hide behind on this connection.
    const std::string stage_table_ = temp_table_name("stage", "", "dead_letter");
};

}  // namespace starstream::daemon::postgres
