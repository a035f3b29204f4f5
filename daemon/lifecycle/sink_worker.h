// The sink thread: takes sealed micro-batches from the handoff and commits each one to
// Postgres, retrying transient failures with exponential backoff on a new connection (a
// database outage pauses consumption: the consume loop stops when the handoff is full).
// After each COMMIT it commits the same offsets to the Kafka group, for lag tools only.
// Thread rules: start() and stop() from the owner thread; the worker runs on its own thread.
#pragma once

#include "batch/batch_handoff.h"
#include "config/config.h"
#include "lifecycle/pipeline_state.h"
#include "metrics/pipeline_probe.h"
#include "pipeline/product_view/star_batch.h"
#include "source/kafka_source.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace starstream::daemon {

namespace postgres {
class StarBatchWriter;
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
    /// Gives up retrying the current batch (shutdown deadline passed).
    void abandon() { abandon_ = true; }

    /// Partitions a newer owner fenced us out of since the last call.
    std::set<engine::TopicPartition> take_fenced();
    std::int64_t committed_batches() const { return committed_batches_; }
    std::int64_t committed_records() const { return committed_records_; }

private:
    void run();
    void commit_with_retry(product_view::StarBatch& batch);
    void record_commit(const product_view::StarBatch& batch, const postgres::BatchOutcome& outcome);
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
    std::thread thread_;
    std::atomic<bool> stopping_{false}, abandon_{false};
    std::atomic<std::int64_t> committed_batches_{0}, committed_records_{0};
    std::mutex fenced_mutex_;
    std::set<engine::TopicPartition> fenced_;
};

}  // namespace starstream::daemon
