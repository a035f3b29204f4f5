#include "lifecycle/sink_worker.h"

#include "sink/postgres/pg_settings.h"
#include "sink/postgres/rejected_records.h"
#include "sink/postgres/star_batch_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

namespace starstream::daemon {

using postgres::FencedError;
using postgres::PgError;
using postgres::StarBatchWriter;

SinkWorker::SinkWorker(const Config& config, BatchQueue& queue, engine::KafkaSource& source, PipelineState& state,
                       metrics::PipelineProbe& probe)
    : config_(config), queue_(queue), source_(source), state_(state), probe_(probe) {}

StarBatchWriter& SinkWorker::writer() {
    if (!writer_) {
        writer_ = std::make_unique<StarBatchWriter>(pg_settings(config_), config_.windows, config_.instance_id, &abandon_);
        if (had_writer_) probe_.postgres_reconnect();
        had_writer_ = true;
    }
    return *writer_;
}

void SinkWorker::check_connection() {
    // Idle for a while: make sure Postgres still answers, so /readyz tells the truth on a quiet topic.
    try {
        writer().ping();
        state_.postgres_checked(true);
    } catch (const PgError& e) {
        writer_.reset();
        state_.postgres_checked(false, e.what());
    }
    last_activity_ = std::chrono::steady_clock::now();
}

SinkWorker::~SinkWorker() { stop(); }

void SinkWorker::start() { thread_ = std::thread([this] { run(); }); }

void SinkWorker::stop() {
    stopping_ = true;
    queue_.close();
    if (thread_.joinable()) thread_.join();
}

std::map<engine::TopicPartition, std::int64_t> SinkWorker::take_fenced() {
    std::lock_guard lock(mutex_);
    return std::exchange(fenced_, {});
}

std::optional<FatalStop> SinkWorker::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

void SinkWorker::fail(FatalStop failure) {
    spdlog::critical("{}", failure.message);
    state_.commit_failed(failure.message, true);
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = std::move(failure);
}

void SinkWorker::run() {
    for (;;) {
        state_.sink_beat();
        auto batch = queue_.take(std::chrono::milliseconds(200));
        if (!batch) {
            if (stopping_) return;
            if (!failure() && std::chrono::steady_clock::now() - last_activity_ > std::chrono::seconds(2)) check_connection();
            continue;
        }
        // After a failure nothing is written any more: the consume loop is stopping the daemon,
        // and what it still hands over is read again after the restart.
        if (!failure()) {
            try {
                commit_with_retry(*batch);
            } catch (const FatalStop& f) {
                fail(f);
            } catch (const std::exception& e) {
                fail({"batch " + std::to_string(batch->batch_id) + " cannot be written: " + e.what() + "; stopping (nothing of it was committed)", 1});
            }
        }
        last_activity_ = std::chrono::steady_clock::now();
        queue_.done();
    }
}

void SinkWorker::record_commit(const product_view::StarBatch& batch, const postgres::BatchOutcome& outcome) {
    probe_.batch_committed();
    probe_.phase("stage", outcome.stage_seconds);
    probe_.phase("merge", outcome.merge_seconds);
    probe_.phase("commit", outcome.commit_seconds);
    probe_.deduplicated(static_cast<std::size_t>(outcome.duplicates));
    for (const auto& t : outcome.tables) {
        if (t.inserted) probe_.rows_written(t.table, "inserted", t.inserted);
        if (t.updated) probe_.rows_written(t.table, "updated", t.updated);
        if (t.unchanged) probe_.rows_written(t.table, "unchanged", t.unchanged);
        if (t.deleted) probe_.rows_written(t.table, "deleted", t.deleted);
    }
    for (int t = 0; t < product_view::kWindowedTables; ++t) probe_.late_records(product_view::windowed_table_name(product_view::WindowedTable(t)), outcome.late[t]);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& f : batch.facts) probe_.freshness(now - static_cast<double>(f.event_time_us) / 1e6);
    state_.batch_committed({batch.batch_id, batch.records, outcome.stage_seconds, outcome.merge_seconds, outcome.commit_seconds, now});
}

void SinkWorker::committed(const product_view::StarBatch& batch, const postgres::BatchOutcome& outcome) {
    ++committed_batches_;
    committed_records_ += static_cast<std::int64_t>(batch.records);
    record_commit(batch, outcome);
    spdlog::debug("batch {} committed: {} records, {} facts inserted, {} duplicates, {} dead letters; stage {:.3f}s merge {:.3f}s"
                  " (windows: apply {:.3f}s, write {:.3f}s) commit {:.3f}s",
                  batch.batch_id, batch.records, outcome.facts_inserted, outcome.duplicates, outcome.dead_letters, outcome.stage_seconds,
                  outcome.merge_seconds, outcome.window_apply_seconds, outcome.window_write_seconds, outcome.commit_seconds);
    std::map<engine::TopicPartition, std::int64_t> offsets;
    for (const auto& [tp, position] : batch.checkpoint) offsets[tp] = position.next_offset;
    source_.commit_async(offsets);
}

std::optional<std::string> SinkWorker::read_back(const engine::TopicPartition& tp, std::int64_t offset) {
    try {
        if (!log_) log_ = std::make_unique<engine::LogOffsets>(config_.kafka, config_.startup_timeout);
        return log_->record(tp, offset);
    } catch (const std::exception& e) {
        spdlog::warn("cannot read {} at offset {} back from Kafka for its dead letter: {}", tp.to_string(), offset, e.what());
        return std::nullopt;
    }
}

bool SinkWorker::isolate_rejected(product_view::StarBatch& batch, const PgError& error) {
    auto rejected = postgres::find_rejected(writer(), batch);
    if (rejected.empty()) return false;
    std::string where;
    for (auto& r : rejected) {
        const auto& f = batch.facts[r.fact];
        r.payload = read_back({batch.topics[f.topic_index], f.partition}, f.offset);
        if (where.size() < 400) where += fmt::format(" {}-{}@{} (SQLSTATE {})", batch.topics[f.topic_index], f.partition, f.offset, r.sqlstate);
        probe_.dead_lettered("rejected by Postgres");
    }
    spdlog::error("batch {}: Postgres rejects {} record(s) ({}); they become dead letters, the rest commits:{}", batch.batch_id,
                  rejected.size(), error.what(), where);
    postgres::dead_letter_rejected(batch, rejected);
    return true;
}

void SinkWorker::commit_with_retry(product_view::StarBatch& batch) {
    // A COMMIT can land although its reply never arrives; a rejection with no record to blame can
    // be a concurrent writer of the same event id, which a retry skips. Three strikes for those.
    constexpr int kUnexplainedLimit = 3;
    auto backoff = config_.postgres_retry_initial;
    bool outcome_unknown = false;
    int stale_backend = 0;  ///< server process id of the connection given up last
    int unexplained = 0;
    for (int attempt = 1;; ++attempt) {
        try {
            if (batch.batch_id == 0) batch.batch_id = writer().next_batch_id();
            // The server process of the lost connection may still hold the batch's transaction
            // open (a network partition): end it first, so that landed() sees the final outcome.
            if (outcome_unknown && stale_backend) writer().settle_backend(std::exchange(stale_backend, 0));
            if (outcome_unknown && writer().landed(batch.batch_id)) {
                spdlog::warn("batch {} was committed although its COMMIT's reply was lost; not writing it again", batch.batch_id);
                probe_.commit_outcome_resolved("landed");
                committed(batch, {});
                return;
            }
            if (outcome_unknown) probe_.commit_outcome_resolved("rolled_back");
            outcome_unknown = false;
            committed(batch, writer().write(batch));
            return;
        } catch (const FencedError& e) {
            std::string names;
            for (const auto& tp : e.partitions()) names += " " + tp.to_string();
            spdlog::warn("batch {}: partitions fenced (claimed since by another owner or reset by an operator), their records are left out:{}",
                         batch.batch_id, names);
            probe_.partitions_fenced(e.partitions().size());
            {
                std::lock_guard lock(mutex_);
                for (const auto& tp : e.partitions()) fenced_[tp] = batch.checkpoint.at(tp).epoch;
            }
            product_view::drop_partitions(batch, e.partitions());
            continue;
        } catch (const PgError& e) {
            probe_.batch_failed();
            if (abandon_) {
                spdlog::error("batch {} abandoned at shutdown ({}); whatever did not commit is consumed again on restart", batch.batch_id, e.what());
                return;
            }
            bool transient = e.transient();
            if (!transient && postgres::caused_by_records(e)) {
                try {
                    if (isolate_rejected(batch, e)) continue;
                } catch (const PgError& probe_error) {
                    if (!probe_error.transient()) throw;
                    transient = true;  // a probe lost its connection or deadlocked: retry the whole batch
                }
            }
            if (transient) {
                outcome_unknown = true;
                stale_backend = writer_ ? writer_->backend_pid() : 0;
                writer_.reset();
            } else if (!postgres::caused_by_records(e) || ++unexplained >= kUnexplainedLimit) {
                throw FatalStop{"batch " + std::to_string(batch.batch_id) + ": Postgres refuses it permanently (SQLSTATE " + e.sqlstate() +
                                    ") and no record is to blame: " + e.what() +
                                    ". Stopping: fix the schema, permissions or constraint, then restart; nothing of the batch was committed.",
                                kExitPostgresRefuses};
            }
            probe_.postgres_retry();
            state_.commit_failed(e.what(), e.transient());
            spdlog::warn("batch {} not committed (attempt {}, {}; retrying in {} ms): {}", batch.batch_id, attempt,
                         e.transient() ? "transient" : "SQLSTATE " + e.sqlstate() + ", no single record to blame", backoff.count(), e.what());
        }
        // Wait out the backoff in small steps so that a shutdown deadline is honoured.
        const auto until = std::chrono::steady_clock::now() + backoff;
        while (std::chrono::steady_clock::now() < until && !abandon_) {
            state_.sink_beat();  // retrying is progress; a hung call is not
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (abandon_) {
            spdlog::error("batch {} abandoned at shutdown: nothing of it was committed; it will be consumed again on restart", batch.batch_id);
            return;
        }
        backoff = std::min(backoff * 2, config_.postgres_retry_max);
    }
}

}  // namespace starstream::daemon
