// One pipeline's micro-batches into Postgres on one connection: each write is one transaction
// holding the pipeline's rows (dimensions, facts, windows) and the batch's bookkeeping
// (BatchLedger). PostgresBatchSink drives it for the engine and makes a new one per connection.
// Thread rules: the sink thread; owns its connection.
#pragma once

#include "batch/micro_batch.h"
#include "driver/batch_sink.h"
#include "sink/postgres/batch_ledger.h"

#include <functional>
#include <vector>

namespace starstream::daemon::postgres {

/// The rows of an INSERT ... ON CONFLICT ... RETURNING (xmax = 0) into `table`: 't' marks an
/// inserted row, 'f' an updated one (rows left unchanged are not returned).
engine::TableRows upserted_rows(std::string table, const PgResult& returned);

class BatchWriter {
public:
    virtual ~BatchWriter() = default;

    /// Writes and commits `batch` (its batch_id set; one of the pipeline's batches). Throws
    /// FencedError (rolled back) when a partition's epoch moved on, PgError on database errors
    /// (rolled back; `transient()` says whether a retry on a new connection may succeed).
    virtual engine::CommitReport write(const engine::MicroBatch& batch) = 0;
    /// After a data or constraint error: the rows Postgres refuses, found by bisection with
    /// rolled-back probes (rejected_records.h), calling `progress` before each; empty when no row
    /// is to blame. The search stops once more than `limit` rows are found (then the first
    /// limit + 1). Throws PgError when a probe fails transiently.
    virtual std::vector<engine::RejectedRow> find_rejected(const engine::MicroBatch& batch, const std::function<void()>& progress,
                                                           std::size_t limit) = 0;
    /// The batch id sequence and the calls that settle a lost COMMIT reply.
    virtual BatchLedger& ledger() = 0;
    /// The server process id of this writer's connection (pg_stat_activity.pid).
    virtual int backend_pid() const = 0;
    /// Checks the connection with a trivial query. Throws PgError.
    virtual void ping() = 0;
};

}  // namespace starstream::daemon::postgres
