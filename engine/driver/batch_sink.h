// Where a micro-batch goes: one call writes a whole batch, its effects and its checkpoint in one
// transaction, and says how it went as a typed result (DuckDB's small result enums): the sink
// loop (sink_loop.h) decides what follows (commit to Kafka, retry, drop fenced partitions,
// dead-letter rejected rows, stop). The daemon implements it on Postgres.
// Thread rules: every method on the sink thread, except abandon() (any thread).
#pragma once

#include "batch/micro_batch.h"

#include <array>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace starstream::engine {

/// Rows one batch wrote to one table, for metrics.
struct TableRows {
    std::string table;
    std::int64_t inserted = 0, updated = 0, unchanged = 0, deleted = 0;
};

/// Records a windowed table did not count on time, per late policy (indexed by engine::LatePolicy).
struct LateRecords {
    std::string table;
    std::array<std::uint64_t, 3> by_policy{};
};

/// What a committed batch did, for logs and metrics. Seconds are wall-clock.
struct CommitReport {
    std::vector<TableRows> tables;
    std::vector<LateRecords> late;
    std::int64_t rows_inserted = 0;  ///< rows of the main fact table
    std::int64_t duplicates = 0;     ///< records whose dedupe key was in the batch already or committed before
    std::int64_t dead_letters = 0;
    double stage_seconds = 0, merge_seconds = 0, commit_seconds = 0;
    double window_apply_seconds = 0, window_write_seconds = 0;  ///< parts of merge_seconds
    std::vector<std::int64_t> event_times_us;  ///< of the rows written (freshness), Unix microseconds
};

/// How a write ended.
struct SinkResult {
    enum class Status {
        committed,  ///< everything and the checkpoint committed; `report` says what
        transient,  ///< nothing committed, or unknown (a lost COMMIT reply): retry, resolve() first
        fenced,     ///< rolled back: `fenced` partitions have a newer owner; drop them and retry
        rejected,   ///< rolled back: `rejected` rows are refused for their values; dead-letter them and retry;
                    ///< none listed: a value error no single row explains (maybe a concurrent writer)
        refused,    ///< rolled back: a permanent error no record explains (schema, permissions): stop
    };
    Status status = Status::committed;
    std::string error;  ///< transient, rejected, refused: what the sink said (no secrets, no row contents)
    std::string code;   ///< its error code (SQLSTATE), "" when none
    CommitReport report;
    std::set<TopicPartition> fenced;
    std::vector<RejectedRow> rejected;

    static SinkResult committed_with(CommitReport report) { return {Status::committed, {}, {}, std::move(report), {}, {}}; }
    static SinkResult failed(Status status, std::string error, std::string code = {}) {
        return {status, std::move(error), std::move(code), {}, {}, {}};
    }
};

class BatchSink {
public:
    virtual ~BatchSink() = default;

    /// Writes and commits `batch`; the first call for a batch gives it its id (batch_id 0 before),
    /// which it keeps through retries. Expected failures are results; an exception is a fault
    /// the loop stops on.
    virtual SinkResult write(MicroBatch& batch) = 0;
    /// After a transient result, before the next write of the same batch: whether that batch
    /// committed after all (its COMMIT's reply was lost). `unknown` when the sink cannot tell yet
    /// (the loop backs off and asks again), with the error.
    struct Landing {
        enum class Outcome { landed, not_landed, unknown } outcome = Outcome::not_landed;
        std::string error;
    };
    virtual Landing resolve(const MicroBatch& batch) = 0;
    /// An idle sink checks it still reaches its store; "" when it does, else the error.
    virtual std::string check() = 0;
    /// A call in progress gives up within 100 ms and returns transient (shutdown deadline). Any thread.
    virtual void abandon() = 0;
    /// What the sink writes to, for logs ("Postgres").
    virtual std::string name() const = 0;
    /// `beat` is called (on the sink thread) after each step of a long piece of work inside
    /// write(), such as each probe of a bisection: progress the loop reports, so that a watchdog
    /// tells a slow isolation from a hung call. Set once by the sink loop, before any write.
    virtual void on_progress(std::function<void()> beat) { (void)beat; }
};

}  // namespace starstream::engine
