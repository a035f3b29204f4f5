// The sink thread: takes sealed micro-batches from the handoff and commits each one to
// Postgres, retrying transient failures with exponential backoff on a new connection (a
// database outage pauses consumption: the consume loop stops when the handoff is full).
// After each COMMIT it commits the same offsets to the Kafka group, for lag tools only.
//
// Each batch takes its id from starstream.batch_id_seq before its first attempt and keeps it:
// after a transient failure (the COMMIT's reply may have been lost) the retry first asks
// whether that batch row exists, so a batch that landed is never written twice. A data or
// constraint error is bisected (rejected_records.h) and the refused records dead-lettered; a
// permanent error no record explains, or any other exception, is a FatalStop: the worker
// stops writing and the consume loop stops the daemon (exit code 4, resp. 1).
// Thread rules: start() and stop() from the owner thread; the worker runs on its own thread.
#pragma once

#include "batch/batch_handoff.h"
#include "config/config.h"
#include "lifecycle/fatal_stop.h"
#include "lifecycle/pipeline_state.h"
#include "metrics/pipeline_probe.h"
#include "pipeline/product_view/star_batch.h"
#include "source/kafka_source.h"
#include "source/log_offsets.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <thread>

namespace starstream::daemon {

namespace postgres {
class StarBatchWriter;
class PgError;
struct BatchOutcome;
}

using BatchQueue = engine::BatchHandoff<product_view::StarBatch>;

class SinkWorker {
public:
    SinkWorker(const Config& config, BatchQueue& queue, engine::KafkaSource& source, PipelineState& state, metrics::PipelineProbe& probe);
    ~SinkWorker();

    void start();
    /// Asks the worker to finish: it drains the queue while Postgres answers; a batch still
    /// failing when `abandon` is set is given up (never half-written). Joins the thread.
    void stop();
    /// Gives up the current batch (shutdown deadline passed): a Postgres call in progress is
    /// abandoned within 100 ms (PgConnection's abort flag). Any thread.
    void abandon() { abandon_ = true; }
    /// Set once the sink gave up for good (it then discards every batch it is handed). Any thread.
    std::optional<FatalStop> failure() const;

    /// Partitions whose epoch moved away from a batch's since the last call, with that epoch.
    std::map<engine::TopicPartition, std::int64_t> take_fenced();
    std::int64_t committed_batches() const { return committed_batches_; }
    std::int64_t committed_records() const { return committed_records_; }

private:
    void run();
    void commit_with_retry(product_view::StarBatch& batch);
    /// Dead-letters the records Postgres refuses; false when none is to blame.
    bool isolate_rejected(product_view::StarBatch& batch, const postgres::PgError& error);
    /// The raw message at `offset`, read back from Kafka for a dead letter; nullopt if unreadable.
    std::optional<std::string> read_back(const engine::TopicPartition& tp, std::int64_t offset);
    void committed(const product_view::StarBatch& batch, const postgres::BatchOutcome& outcome);
    void record_commit(const product_view::StarBatch& batch, const postgres::BatchOutcome& outcome);
    void fail(FatalStop failure);
    void check_connection();
    postgres::StarBatchWriter& writer();

    const Config& config_;
    BatchQueue& queue_;
    engine::KafkaSource& source_;
    PipelineState& state_;
    metrics::PipelineProbe& probe_;
    bool had_writer_ = false;  ///< a connection existed before: the next one is a reconnect
    std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
    std::unique_ptr<postgres::StarBatchWriter> writer_;  ///< reconnected after a transient failure
    std::unique_ptr<engine::LogOffsets> log_;            ///< opened when a rejected record's bytes are first needed
    std::thread thread_;
    std::atomic<bool> stopping_{false}, abandon_{false};
    std::atomic<std::int64_t> committed_batches_{0}, committed_records_{0};
    mutable std::mutex mutex_;  ///< guards fenced_ and failure_
    std::map<engine::TopicPartition, std::int64_t> fenced_;
    std::optional<FatalStop> failure_;
};

}  // namespace starstream::daemon
