// Writes one product_view micro-batch in ONE Postgres transaction:
//   1. binary COPY of dimension members and the facts' event ids into temporary staging tables;
//   2. dimensions merged with INSERT ... ON CONFLICT on their natural keys (rows that did
//      not change are not rewritten);
//   3. facts whose event id (the dedupe key) is not committed yet, binary COPY into fact_event;
//   4. dead letters copied (BatchLedger);
//   5. under the window merge lock, the window watermark read, the new facts pre-aggregated
//      against it (ClickstreamWindows) and merged into the shared windowed tables (WindowWriter);
//   6. progress rows updated, fenced by the owner epoch; then the batch row (BatchLedger); COMMIT.
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

namespace starstream::daemon::postgres {

using engine::TableRows;
using product_view::MemberKeys;


/// What a committed product_view batch did, for logs and metrics (commit_report() gives the engine's view).
struct BatchOutcome {
    std::vector<TableRows> tables;
    std::int64_t facts_inserted = 0;
    std::int64_t duplicates = 0;  ///< in-batch plus already-committed ids
    std::int64_t dead_letters = 0;
    /// Late records per windowed table and policy (dropped, dead-lettered, corrected).
    std::array<std::array<std::uint64_t, 3>, product_view::kWindowedTables> late{};
    double stage_seconds = 0, merge_seconds = 0, commit_seconds = 0;
    double window_apply_seconds = 0, window_write_seconds = 0;  ///< parts of merge_seconds
    std::int64_t window_watermark_us = INT64_MIN;  ///< the window watermark the batch judged lateness against
};

/// The engine's view of a committed batch: `outcome`, the late counts per table by name, the facts' event times.
engine::CommitReport commit_report(const product_view::StarBatch& batch, const BatchOutcome& outcome);

class StarBatchWriter final : public BatchWriter {
public:
    /// Connects and prepares the staging tables; `instance_id` is recorded with each batch and
    /// offset gap; `abort_flag` abandons a call in progress (see PgConnection). Throws PgError.
    StarBatchWriter(const PgSettings& settings, const product_view::WindowSettings& windows, std::string instance_id,
                    const std::atomic<bool>* abort_flag = nullptr);
    ~StarBatchWriter() override;

    /// `batch` must be a product_view::StarBatch.
    engine::CommitReport write(const engine::MicroBatch& batch) override;
    std::vector<engine::RejectedRow> find_rejected(const engine::MicroBatch& batch, const std::function<void()>& progress) override;
    BatchLedger& ledger() override { return *ledger_; }
    int backend_pid() const override { return conn_->backend_pid(); }
    void ping() override { conn_->exec("SELECT 1"); }

    /// write() for a StarBatch, with the product_view detail of what it did.
    BatchOutcome write_star(const product_view::StarBatch& batch);
    /// Writes facts [begin, end) of `batch` with the dimension members they reference, then rolls
    /// back: the error Postgres raises for them, if any (bisection of a rejected batch). Windows,
    /// dead letters and progress are not part of a probe. Throws PgError when the error is
    /// transient (the probe proves nothing then).
    std::optional<PgError> probe(const product_view::StarBatch& batch, std::size_t begin, std::size_t end);

    /// A trial for bisection: opens a transaction (always rolled back by end_trial) with every
    /// member of `batch` staged and merged. Throws PgError, the members' own error among them
    /// (end_trial done already then).
    void begin_trial(const product_view::StarBatch& batch);
    /// Within a trial, copies facts [begin, end) under a savepoint: nullopt when Postgres takes
    /// them (they stay, so a range is never copied twice once it passed), else the error that
    /// refused them (rolled back to the savepoint). Throws PgError when the error is transient.
    std::optional<PgError> try_facts(const product_view::StarBatch& batch, std::size_t begin, std::size_t end);
    /// Rolls the trial back. Throws PgError when the connection fails.
    void end_trial();

private:
    /// Stages the batch's members and event ids; with `only`, those of a probe's facts.
    void stage(const product_view::StarBatch& batch, const MemberKeys* only);
    void merge_dimensions(const product_view::StarBatch& batch, BatchOutcome& outcome);
    using EventIdSet = std::unordered_set<product_view::EventId, product_view::EventIdHash>;
    EventIdSet committed_ids();
    std::int64_t copy_facts(const product_view::StarBatch& batch, const EventIdSet& skip, std::size_t begin, std::size_t end);
    BatchTotals totals(const product_view::StarBatch& batch, const BatchOutcome& outcome) const;
    void merge_windows(const product_view::StarBatch& batch, const EventIdSet& committed, BatchOutcome& outcome);
    void rollback();

    std::unique_ptr<PgConnection> conn_;
    EventIdSet trial_committed_;  ///< ids committed before the trial began (skipped by try_facts)
    BinaryCopyWriter copy_;
    std::unique_ptr<BatchLedger> ledger_;
    std::unique_ptr<product_view::ClickstreamWindows> windows_;  ///< null when windows.enabled is false
    std::unique_ptr<class WindowWriter> window_writer_;
};

}  // namespace starstream::daemon::postgres
