// The running pipelines, wired: per pipeline pipelines.run names, the engine's StreamDriver (its
// own consumer, in the one consumer group) over that pipeline's stage and writer (a compiled
// pipeline's, pipeline/compiled_pipelines.h, or a spec's SpecStage and SpecBatchWriter), the
// Postgres sink (PostgresBatchSink, a writer per connection) and checkpoint store
// (ProgressStore), reporting to the daemon's health state (a lane per pipeline), metrics and
// systemd. main() makes one, waits for the sources, runs it.
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
#include "sink/postgres/progress_store.h"
#include "spec/pipeline_spec.h"
#include "sink/postgres/postgres_batch_sink.h"

#include <memory>

namespace starstream::daemon {

/// The driver's settings from the configuration (config/starstream.conf.example names each key),
/// without watermark alignment or watermark-only batches: the service sets those per pipeline.
engine::DriverSettings driver_settings(const Config& config);

/// The pipelines pipelines.run names (comma-separated, in order; at least one).
std::vector<std::string> pipelines_to_run(const Config& config);

/// Why pipelines.run cannot run with `specs` ("" when it can): a name given twice, no spec of
/// that name, a spec using what spec pipelines cannot do yet, a topic two pipelines would read.
std::string run_problem(const Config& config, const std::vector<spec::PipelineSpec>& specs);

class StreamService {
public:
    /// Loads the enrichment data and creates the Kafka consumer for pipelines.run (run_problem()
    /// empty; `specs` must outlive the service); throws ConfigError (a missing enrichment file),
    /// engine::SourceConfigError (a bad kafka.* key) or postgres::PgError.
    StreamService(const Config& config, const std::vector<spec::PipelineSpec>& specs, PipelineState& state, metrics::PipelineProbe& probe,
                  SystemdNotifier& systemd);

    ~StreamService();

    /// See engine::StreamDriver::wait_for_source; every pipeline's, in order.
    bool wait_for_source();
    /// Consumes until request_stop() (with source.stop_when_caught_up: until every pipeline is
    /// caught up); several pipelines run on a thread each, and one that must stop stops them all.
    /// Throws FatalStop (with its exit code) when an operator must act.
    void run();
    static void request_stop() { engine::StreamDriver::request_stop(); }

    struct Pipeline;

private:
    std::vector<std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace starstream::daemon
