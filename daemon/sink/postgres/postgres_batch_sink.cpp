#include "sink/postgres/postgres_batch_sink.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace starstream::daemon::postgres {

using engine::SinkResult;
using Status = SinkResult::Status;

PostgresBatchSink::PostgresBatchSink(WriterFactory make_writer, std::function<void()> on_reconnect, std::size_t max_rejected)
    : make_writer_(std::move(make_writer)), on_reconnect_(std::move(on_reconnect)), max_rejected_(max_rejected) {}

PostgresBatchSink::~PostgresBatchSink() = default;

BatchWriter& PostgresBatchSink::writer() {
    if (!writer_) {
        auto made = make_writer_(&abandon_);
        // A restart resumes the count: a supervisor restarting the daemon after each stop (Docker's
        // on-failure) would otherwise let every run dead-letter up to the limit again.
        if (!had_writer_) refused_run_ = static_cast<std::size_t>(made->ledger().refused_since_facts());
        writer_ = std::move(made);
        if (had_writer_ && on_reconnect_) on_reconnect_();
        had_writer_ = true;
    }
    return *writer_;
}

void PostgresBatchSink::drop_connection() {
    if (writer_) stale_backend_ = writer_->backend_pid();
    writer_.reset();
}

SinkResult PostgresBatchSink::write(engine::MicroBatch& batch) {
    try {
        if (batch.batch_id == 0) batch.batch_id = writer().ledger().next_batch_id();
        engine::CommitReport report = writer().write(batch);
        if (report.rows_inserted > 0) refused_run_ = 0;
        return SinkResult::committed_with(std::move(report));
    } catch (const FencedError& e) {
        SinkResult result = SinkResult::failed(Status::fenced, e.what());
        result.fenced = e.partitions();
        return result;
    } catch (const PgError& e) {
        return failed(batch, e);
    }
}

SinkResult PostgresBatchSink::failed(const engine::MicroBatch& batch, const PgError& error) {
    if (!abandon_ && !error.transient() && caused_by_records(error)) {
        try {
            SinkResult result = SinkResult::failed(Status::rejected, error.what(), error.sqlstate());
            // The search may take many probes: say what is going on before the batch goes quiet.
            spdlog::warn("batch {}: Postgres refuses it (SQLSTATE {}: {}); finding the records to blame", batch.batch_id, error.sqlstate(),
                         first_line(error.what()));
            const std::size_t budget = max_rejected_ - std::min(refused_run_, max_rejected_);
            result.rejected = writer().find_rejected(batch, progress_, budget);
            if (result.rejected.size() > budget) return too_many_rejected(result.rejected.front());
            refused_run_ += result.rejected.size();
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
    if (caused_by_records(error)) return SinkResult::failed(Status::rejected, error.what(), error.sqlstate());
    return SinkResult::failed(Status::refused, std::string("no record is to blame: ") + error.what(), error.sqlstate());
}

SinkResult PostgresBatchSink::too_many_rejected(const engine::RejectedRow& first) const {
    return SinkResult::failed(
        Status::refused,
        fmt::format("more than {} records refused (postgres.max_rejected_records: counted over this batch and those before it since one "
                    "committed facts), the first of this batch {}[{}]@{} {}: so many refused is a table, constraint or pipeline spec "
                    "problem rather than bad records (raise postgres.max_rejected_records to dead-letter them)",
                    max_rejected_, first.source.topic, first.source.partition, first.offset, first.reason),
        first.code);
}

engine::BatchSink::Landing PostgresBatchSink::resolve(const engine::MicroBatch& batch) {
    using Outcome = Landing::Outcome;
    if (batch.batch_id == 0) return {Outcome::not_landed, {}};  // it never had an id: nothing was written
    try {
        // Until the old transaction has ended, the batch row may still appear: ask again later.
        if (stale_backend_ && !writer().ledger().settle_backend(stale_backend_))
            return {Outcome::unknown, "the server process of the lost connection (pid " + std::to_string(stale_backend_) + ") has not ended yet"};
        stale_backend_ = 0;
        return {writer().ledger().landed(batch.batch_id) ? Outcome::landed : Outcome::not_landed, {}};
    } catch (const PgError& e) {
        if (!e.transient()) throw;
        drop_connection();
        return {Outcome::unknown, e.what()};
    }
}

std::string PostgresBatchSink::check() {
    try {
        writer().ping();
        return {};
    } catch (const PgError& e) {
        writer_.reset();
        return e.what();
    }
}

}  // namespace starstream::daemon::postgres
