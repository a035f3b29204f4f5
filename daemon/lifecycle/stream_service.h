// The running pipeline, wired: the engine's StreamDriver over the pipeline named by
// pipelines.run (the compiled product_view stage and StarBatchWriter, or a spec's SpecStage and
// SpecBatchWriter), the Postgres sink (PostgresBatchSink, a writer per connection) and checkpoint
// store (ProgressStore), reporting to the daemon's health state, metrics and systemd. main()
// makes one, waits for the source, runs it.
// Thread rules: construct, wait_for_source() and run() on one thread; request_stop() from
// anywhere, signal handlers included.
#pragma once

#include "config/config.h"
#include "driver/stream_driver.h"
#include "lifecycle/driver_reporter.h"
#include "lifecycle/fatal_stop.h"
#include "lifecycle/pipeline_state.h"
#include "lifecycle/sink_reporter.h"
#include "lifecycle/systemd_notifier.h"
#include "metrics/pipeline_probe.h"
#include "pipeline/product_view/product_view_stage.h"
#include "sink/postgres/progress_store.h"
#include "spec/pipeline_spec.h"
#include "sink/postgres/postgres_batch_sink.h"

#include <memory>

namespace starstream::daemon {

/// The driver's settings from the configuration (config/starstream.conf.example names each key).
engine::DriverSettings driver_settings(const Config& config);

/// Why pipelines.run cannot run with `specs` ("" when it can): no spec of that name, or a spec
/// using what spec pipelines cannot do yet.
std::string run_problem(const Config& config, const std::vector<spec::PipelineSpec>& specs);

class StreamService {
public:
    /// Loads the enrichment data and creates the Kafka consumer for pipelines.run (run_problem()
    /// empty; `specs` must outlive the service); throws ConfigError (a missing enrichment file),
    /// engine::SourceConfigError (a bad kafka.* key) or postgres::PgError.
    StreamService(const Config& config, const std::vector<spec::PipelineSpec>& specs, PipelineState& state, metrics::PipelineProbe& probe,
                  SystemdNotifier& systemd);

    /// See engine::StreamDriver::wait_for_source.
    bool wait_for_source() { return driver_->wait_for_source(); }
    /// Consumes until request_stop(); throws FatalStop (with its exit code) when an operator must act.
    void run();
    static void request_stop() { engine::StreamDriver::request_stop(); }

private:
    postgres::ProgressStore checkpoints_;
    std::unique_ptr<engine::PipelineStage> stage_;
    std::unique_ptr<postgres::PostgresBatchSink> sink_;
    SinkReporter sink_reporter_;
    DriverReporter driver_reporter_;
    std::unique_ptr<engine::StreamDriver> driver_;  ///< destroyed first: it uses every member above
};

}  // namespace starstream::daemon
