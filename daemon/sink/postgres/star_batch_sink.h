// product_view's micro-batches into Postgres, as the engine's BatchSink: StarBatchWriter writes
// a batch in one transaction; this class turns what happened into a typed result. It keeps one
// connection and makes a new one after a transient failure; the server process of the connection
// given up may still hold the batch's transaction open (a network partition), so resolve() ends
// it before asking whether the batch row exists (a COMMIT whose reply was lost). A data or
// constraint error is bisected (rejected_records.h) into the facts to dead-letter.
// Thread rules: the sink thread, except abandon() (any thread).
#pragma once

#include "driver/batch_sink.h"
#include "pipeline/product_view/star_batch.h"
#include "pipeline/product_view/window_settings.h"
#include "sink/postgres/pg_connection.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace starstream::daemon::postgres {

class StarBatchWriter;
struct BatchOutcome;

class StarBatchSink final : public engine::BatchSink {
public:
    /// Connects lazily, at the first call. `on_reconnect` is called each time a connection
    /// replaces a lost one (a metric).
    StarBatchSink(PgSettings settings, product_view::WindowSettings windows, std::string instance_id, std::function<void()> on_reconnect);
    ~StarBatchSink() override;

    /// `batch` must be a product_view::StarBatch (the runner hands nothing else to this sink).
    engine::SinkResult write(engine::MicroBatch& batch) override;
    Landing resolve(const engine::MicroBatch& batch) override;
    std::string check() override;
    void abandon() override { abandon_ = true; }
    std::string name() const override { return "Postgres"; }

private:
    StarBatchWriter& writer();
    /// The result for a failed write; drops the connection when the failure is transient.
    engine::SinkResult failed(const product_view::StarBatch& batch, const PgError& error);
    void drop_connection();

    PgSettings settings_;
    product_view::WindowSettings windows_;
    std::string instance_id_;
    std::function<void()> on_reconnect_;
    std::atomic<bool> abandon_{false};
    bool had_writer_ = false;  ///< a connection existed before: the next one is a reconnect
    int stale_backend_ = 0;    ///< server process id of the connection given up last; 0 when settled
    std::unique_ptr<StarBatchWriter> writer_;
};

/// What the writer reports of a committed batch, in the engine's terms.
engine::CommitReport commit_report(const product_view::StarBatch& batch, const BatchOutcome& outcome);

}  // namespace starstream::daemon::postgres
