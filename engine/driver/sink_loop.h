// The sink thread: takes sealed micro-batches from the handoff and has the BatchSink commit each
// one, acting on its typed result (DESIGN.md invariants 1, 2, 6 and 9):
//   committed  the offsets go to the source's group (for lag tools only; the sink's commit is
//              the checkpoint) and the observer reports;
//   transient  backoff (retry_initial doubling up to retry_max), then resolve() asks whether the
//              batch landed after all (a lost COMMIT reply) before writing it again: a batch that
//              landed is never written twice. The batch keeps its id through retries;
//   fenced     the partitions are dropped from the batch and reported to the poll thread
//              (take_fenced), the rest is written again at once;
//   rejected   the refused rows become dead letters with their raw records read back from the
//              source, the rest is written again at once; a rejection no row explains is
//              retried with backoff and stops the loop the third time (it may be a concurrent
//              writer of the same key, which a retry skips);
//   refused    stops: failure() is set, the poll thread stops the process; nothing more is
//              written, batches still handed over are discarded (read again after the restart).
// A database outage therefore pauses consumption: the handoff stays full and the poll loop
// takes no record. abandon() (shutdown deadline) gives the current batch up, never half-written.
// Thread rules: start() and stop() from the owner thread; the loop runs on its own thread;
// abandon(), failure(), take_fenced() and the counters from any thread.
#pragma once

#include "batch/batch_handoff.h"
#include "batch/micro_batch.h"
#include "driver/batch_sink.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace starstream::engine {

using BatchQueue = BatchHandoff<std::unique_ptr<MicroBatch>>;

/// Why the sink loop stopped for good. `refused`: the sink refuses a batch and no record is to
/// blame (an operator must fix the schema, permissions or a constraint); otherwise a fault.
struct SinkFailure {
    std::string message;
    bool refused = false;
};

/// What the loop needs from the source: the group commit after a batch, and a record's raw bytes
/// for a dead letter. Called on the sink thread.
class SourceLink {
public:
    virtual ~SourceLink() = default;
    /// Commits next offsets to the consumer group, asynchronously; never throws.
    virtual void commit_offsets(const std::map<TopicPartition, std::int64_t>& next_offsets) = 0;
    /// The raw record at `offset` of `tp`; nullopt when the log no longer has it or it cannot be read.
    virtual std::optional<std::string> read_back(const TopicPartition& tp, std::int64_t offset) = 0;
};

/// Health and metrics of the loop (the daemon's /readyz and Prometheus). Called on the sink thread.
class SinkObserver {
public:
    virtual ~SinkObserver() = default;
    /// The loop is alive: between batches, during a long write (BatchSink::on_progress), while
    /// reading rejected records back, while backing off.
    virtual void beat() = 0;
    virtual void committed(const MicroBatch& batch, const CommitReport& report) = 0;
    /// A write that did not commit (fenced writes excluded).
    virtual void write_failed(const SinkResult& result) = 0;
    /// The batch is written again after a backoff.
    virtual void retrying(const SinkResult& result) = 0;
    /// A batch whose commit outcome was unknown turned out `landed` or rolled back.
    virtual void landing_resolved(bool landed) = 0;
    virtual void fenced(std::size_t partitions) = 0;
    virtual void rejected(std::size_t rows) = 0;
    /// An idle check of the sink; `error` empty when it answers.
    virtual void checked(const std::string& error) = 0;
    virtual void failed(const SinkFailure& failure) = 0;
};

struct SinkLoopSettings {
    std::chrono::milliseconds retry_initial{500}, retry_max{30000};
    std::chrono::milliseconds idle_check{2000};  ///< an idle sink is checked this often
    int unexplained_limit = 3;                   ///< rejections no row explains before the loop stops
};

class SinkLoop {
public:
    SinkLoop(SinkLoopSettings settings, BatchQueue& queue, BatchSink& sink, SourceLink& source, SinkObserver& observer);
    ~SinkLoop();

    void start();
    /// Asks the loop to finish: it drains the queue while the sink answers; a batch still failing
    /// when abandon() was called is given up. Joins the thread.
    void stop();
    /// Gives up the current batch (shutdown deadline passed); a sink call in progress returns
    /// within 100 ms. Any thread.
    void abandon();
    /// Set once the loop gave up for good. Any thread.
    std::optional<SinkFailure> failure() const;
    /// Partitions fenced since the last call, with the epoch the batch held. Any thread.
    std::map<TopicPartition, std::int64_t> take_fenced();
    std::int64_t committed_batches() const { return committed_batches_; }
    std::int64_t committed_records() const { return committed_records_; }

private:
    void run();
    void commit_with_retry(MicroBatch& batch);
    /// Acts on a failed write; returns whether to write again at once (no backoff).
    bool handle(MicroBatch& batch, const SinkResult& result, int& unexplained);
    void dead_letter(MicroBatch& batch, const SinkResult& result);
    /// Waits `backoff` in small steps, beating; false when abandoned meanwhile.
    bool back_off(std::chrono::milliseconds backoff);
    void committed(const MicroBatch& batch, const CommitReport& report);
    void fail(SinkFailure failure);

    SinkLoopSettings settings_;
    BatchQueue& queue_;
    BatchSink& sink_;
    SourceLink& source_;
    SinkObserver& observer_;
    std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
    std::thread thread_;
    std::atomic<bool> stopping_{false}, abandon_{false};
    std::atomic<std::int64_t> committed_batches_{0}, committed_records_{0};
    mutable std::mutex mutex_;  ///< guards fenced_ and failure_
    std::map<TopicPartition, std::int64_t> fenced_;
    std::optional<SinkFailure> failure_;
};

}  // namespace starstream::engine
