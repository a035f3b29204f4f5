// Writes one product_view micro-batch in ONE Postgres transaction:
//   1. binary COPY of dimension members and the facts' event ids into temporary staging tables;
//   2. dimensions merged with INSERT ... ON CONFLICT on their natural keys (rows that did
//      not change are not rewritten);
//   3. facts whose event id (the dedupe key) is not committed yet, binary COPY into fact_event;
//   4. dead letters copied (postgres::BatchLedger);
//   5. under the window merge lock, the window watermark read, the new facts pre-aggregated
//      against it (ClickstreamWindows) and merged into the shared windowed tables (WindowWriter);
//   6. progress rows updated, fenced by the owner epoch; then the batch row (postgres::BatchLedger); COMMIT.
// The COMMIT is the checkpoint: a crash before it leaves nothing, after it everything.
// Thread rules: one thread (the sink thread); owns its connection.
#pragma once

#include "pipeline/product_view/clickstream_windows.h"
#include "driver/batch_sink.h"
#include "pipeline/product_view/star_batch.h"
#include "sink/postgres/batch_writer.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <unordered_set>
#include <stdexcept>
#include <vector>

namespace starstream::daemon::product_view {

using engine::TableRows;



/// What a committed product_view batch did, for logs and metrics (commit_report() gives the engine's view).
struct BatchOutcome {
    std::vector<TableRows> tables;
    std::int64_t facts_inserted = 0;
    std::int64_t duplicates = 0;  ///< in-batch plus already-committed ids
    std::int64_t dead_letters = 0;
    /// Late records per windowed table and policy (dropped, dead-lettered, corrected).
    std::array<std::array<std::uint64_t, 3>, kWindowedTables> late{};
    double stage_seconds = 0, merge_seconds = 0, commit_seconds = 0;
    double window_apply_seconds = 0, window_write_seconds = 0;  ///< parts of merge_seconds
    std::int64_t window_watermark_us = INT64_MIN;  ///< the window watermark the batch judged lateness against
};

/// The engine's view of a committed batch: `outcome`, the late counts per table by name, the facts' event times.
engine::CommitReport commit_report(const StarBatch& batch, const BatchOutcome& outcome);

class StarBatchWriter final : public postgres::BatchWriter {
public:
    /// Connects and prepares the staging tables; `instance_id` is recorded with each batch and
    /// offset gap; `abort_flag` abandons a call in progress (see postgres::PgConnection). Throws postgres::PgError.
    StarBatchWriter(const postgres::PgSettings& settings, const WindowSettings& windows, std::string instance_id,
                    const std::atomic<bool>* abort_flag = nullptr);
    ~StarBatchWriter() override;

    /// `batch` must be a StarBatch.
    engine::CommitReport write(const engine::MicroBatch& batch) override;
    std::vector<engine::RejectedRow> find_rejected(const engine::MicroBatch& batch, const std::function<void()>& progress,
                                                   std::size_t limit) override;
    postgres::BatchLedger& ledger() override { return *ledger_; }
    int backend_pid() const override { return conn_->backend_pid(); }
    void ping() override { conn_->exec("SELECT 1"); }

    /// write() for a StarBatch, with the product_view detail of what it did.
    BatchOutcome write_star(const StarBatch& batch);
    /// Writes facts [begin, end) of `batch` with the dimension members they reference, then rolls
    /// back: the error Postgres raises for them, if any (bisection of a rejected batch). Windows,
    /// dead letters and progress are not part of a probe. Throws postgres::PgError when the error is
    /// transient (the probe proves nothing then).
    std::optional<postgres::PgError> probe(const StarBatch& batch, std::size_t begin, std::size_t end);

    /// A trial for bisection: opens a transaction (always rolled back by end_trial) with every
    /// member of `batch` staged and merged. Throws postgres::PgError, the members' own error among them
    /// (end_trial done already then).
    void begin_trial(const StarBatch& batch);
    /// Within a trial, copies facts [begin, end) under a savepoint: nullopt when Postgres takes
    /// them (they stay, so a range is never copied twice once it passed), else the error that
    /// refused them (rolled back to the savepoint). Throws postgres::PgError when the error is transient.
    std::optional<postgres::PgError> try_facts(const StarBatch& batch, std::size_t begin, std::size_t end);
    /// Rolls the trial back. Throws postgres::PgError when the connection fails.
    void end_trial();

private:
    /// Stages the batch's members and event ids; with `only`, those of a probe's facts.
    void stage(const StarBatch& batch, const MemberKeys* only);
    void merge_dimensions(const StarBatch& batch, BatchOutcome& outcome);
    using EventIdSet = std::unordered_set<EventId, EventIdHash>;
    EventIdSet committed_ids();
    std::int64_t copy_facts(const StarBatch& batch, const EventIdSet& skip, std::size_t begin, std::size_t end);
    postgres::BatchTotals totals(const StarBatch& batch, const BatchOutcome& outcome) const;
    void merge_windows(const StarBatch& batch, const EventIdSet& committed, BatchOutcome& outcome);
    void rollback();

    std::unique_ptr<postgres::PgConnection> conn_;
    EventIdSet trial_committed_;  ///< ids committed before the trial began (skipped by try_facts)
    postgres::BinaryCopyWriter copy_;
    std::unique_ptr<postgres::BatchLedger> ledger_;
    std::unique_ptr<ClickstreamWindows> windows_;  ///< null when windows.enabled is false
    std::unique_ptr<class WindowWriter> window_writer_;
};

}  // namespace starstream::daemon::product_view
