#include "sink/postgres/star_batch_sink.h"

#include "sink/postgres/rejected_records.h"
#include "sink/postgres/star_batch_writer.h"

namespace starstream::daemon::postgres {

using engine::SinkResult;
using Status = SinkResult::Status;
using product_view::StarBatch;

StarBatchSink::StarBatchSink(PgSettings settings, product_view::WindowSettings windows, std::string instance_id,
                             std::function<void()> on_reconnect)
    : settings_(std::move(settings)), windows_(std::move(windows)), instance_id_(std::move(instance_id)), on_reconnect_(std::move(on_reconnect)) {}

StarBatchSink::~StarBatchSink() = default;

StarBatchWriter& StarBatchSink::writer() {
    if (!writer_) {
        writer_ = std::make_unique<StarBatchWriter>(settings_, windows_, instance_id_, &abandon_);
        if (had_writer_ && on_reconnect_) on_reconnect_();
        had_writer_ = true;
    }
    return *writer_;
}

void StarBatchSink::drop_connection() {
    if (writer_) stale_backend_ = writer_->backend_pid();
    writer_.reset();
}

SinkResult StarBatchSink::write(engine::MicroBatch& micro_batch) {
    auto& batch = static_cast<StarBatch&>(micro_batch);
    try {
        if (batch.batch_id == 0) batch.batch_id = writer().next_batch_id();
        return SinkResult::committed_with(commit_report(batch, writer().write(batch)));
    } catch (const FencedError& e) {
        SinkResult result = SinkResult::failed(Status::fenced, e.what());
        result.fenced = e.partitions();
        return result;
    } catch (const PgError& e) {
        return failed(batch, e);
    }
}

SinkResult StarBatchSink::failed(const StarBatch& batch, const PgError& error) {
    if (!abandon_ && !error.transient() && caused_by_records(error)) {
        try {
            SinkResult result = SinkResult::failed(Status::rejected, error.what(), error.sqlstate());
            result.rejected = find_rejected(writer(), batch);
            return result;
        } catch (const PgError& probe_error) {
            if (!probe_error.transient()) throw;
            // A probe lost its connection or deadlocked: the whole batch is retried.
            drop_connection();
            return SinkResult::failed(Status::transient, probe_error.what(), probe_error.sqlstate());
        }
    }
    if (error.transient()) {
        drop_connection();
        return SinkResult::failed(Status::transient, error.what(), error.sqlstate());
    }
    return SinkResult::failed(caused_by_records(error) ? Status::rejected : Status::refused, error.what(), error.sqlstate());
}

engine::BatchSink::Landing StarBatchSink::resolve(const engine::MicroBatch& batch) {
    using Outcome = Landing::Outcome;
    if (batch.batch_id == 0) return {Outcome::not_landed, {}};  // it never had an id: nothing was written
    try {
        if (stale_backend_) writer().settle_backend(stale_backend_);
        stale_backend_ = 0;
        return {writer().landed(batch.batch_id) ? Outcome::landed : Outcome::not_landed, {}};
    } catch (const PgError& e) {
        if (!e.transient()) throw;
        drop_connection();
        return {Outcome::unknown, e.what()};
    }
}

std::string StarBatchSink::check() {
    try {
        writer().ping();
        return {};
    } catch (const PgError& e) {
        writer_.reset();
        return e.what();
    }
}

engine::CommitReport commit_report(const StarBatch& batch, const BatchOutcome& outcome) {
    engine::CommitReport report;
    report.tables = outcome.tables;
    for (int t = 0; t < product_view::kWindowedTables; ++t)
        report.late.push_back({product_view::windowed_table_name(product_view::WindowedTable(t)), outcome.late[t]});
    report.rows_inserted = outcome.facts_inserted;
    report.duplicates = outcome.duplicates;
    report.dead_letters = outcome.dead_letters;
    report.stage_seconds = outcome.stage_seconds;
    report.merge_seconds = outcome.merge_seconds;
    report.commit_seconds = outcome.commit_seconds;
    report.window_apply_seconds = outcome.window_apply_seconds;
    report.window_write_seconds = outcome.window_write_seconds;
    report.event_times_us.reserve(batch.facts.size());
    for (const auto& f : batch.facts) report.event_times_us.push_back(f.event_time_us);
    return report;
}

}  // namespace starstream::daemon::postgres
