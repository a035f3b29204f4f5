// Micro-batches into Postgres, as the engine's BatchSink, for any pipeline's BatchWriter: it
// turns what happened into a typed result. It keeps one writer (one connection) and makes a new
// one after a transient failure; the server process of the connection given up may still hold
// the batch's transaction open (a network partition), so resolve() ends it before asking whether
// the batch row exists (a COMMIT whose reply was lost). A data or constraint error is bisected
// into the rows to dead-letter, unless more than `max_rejected` records are refused since a
// write last committed facts (in this batch, in its earlier attempts, or in the batches before
// it that committed none: on a quiet topic every batch is small): so many is a table,
// constraint or spec problem (a NOT NULL column an operator added, a CHECK no event fits),
// which dead-lettering would turn into a flood of dead letters and a probe per record; the
// batch is then refused whole and the daemon stops, naming the error, with nothing of it
// written (DESIGN.md invariants 6 and 9).
// Thread rules: the sink thread, except abandon() (any thread).
#pragma once

#include "driver/batch_sink.h"
#include "sink/postgres/batch_writer.h"
#include "sink/postgres/pg_connection.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace starstream::daemon::postgres {

class PostgresBatchSink final : public engine::BatchSink {
public:
    /// Makes a writer on a new connection, abandoning its calls when the flag turns true; throws PgError.
    using WriterFactory = std::function<std::unique_ptr<BatchWriter>(const std::atomic<bool>* abort_flag)>;

    /// Connects lazily, at the first call. `on_reconnect` is called each time a connection
    /// replaces a lost one (a metric). `max_rejected`: the most records dead-lettered as refused
    /// by Postgres before a write commits facts again (postgres.max_rejected_records); more
    /// refuse the batch.
    PostgresBatchSink(WriterFactory make_writer, std::function<void()> on_reconnect, std::size_t max_rejected = SIZE_MAX);
    ~PostgresBatchSink() override;

    engine::SinkResult write(engine::MicroBatch& batch) override;
    Landing resolve(const engine::MicroBatch& batch) override;
    std::string check() override;
    void abandon() override { abandon_ = true; }
    std::string name() const override { return "Postgres"; }
    void on_progress(std::function<void()> beat) override { progress_ = std::move(beat); }

private:
    BatchWriter& writer();
    /// The result for a failed write; drops the connection when the failure is transient.
    engine::SinkResult failed(const engine::MicroBatch& batch, const PgError& error);
    /// The refusal of a batch when more than max_rejected_ records are refused, `first` among this batch's.
    engine::SinkResult too_many_rejected(const engine::RejectedRow& first) const;
    void drop_connection();

    WriterFactory make_writer_;
    std::function<void()> on_reconnect_;
    std::size_t max_rejected_;
    std::size_t refused_run_ = 0;  ///< records dead-lettered as refused since a write last committed facts (read back at start)
    std::function<void()> progress_ = [] {};
    std::atomic<bool> abandon_{false};
    bool had_writer_ = false;  ///< a connection existed before: the next one is a reconnect
    int stale_backend_ = 0;    ///< server process id of the connection given up last; 0 when settled
    std::unique_ptr<BatchWriter> writer_;
};

}  // namespace starstream::daemon::postgres
