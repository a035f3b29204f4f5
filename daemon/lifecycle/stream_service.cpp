#include "lifecycle/stream_service.h"

#include "sink/postgres/pg_settings.h"
#include "sink/postgres/spec_batch_writer.h"
#include "spec/spec_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include "sink/postgres/star_batch_writer.h"

namespace starstream::daemon {

namespace {

/// The pipeline that runs compiled (daemon/pipeline/product_view) rather than from its spec.
constexpr const char* kCompiledPipeline = "product_view";

const spec::PipelineSpec* find_spec(const std::vector<spec::PipelineSpec>& specs, const std::string& name) {
    for (const auto& s : specs)
        if (s.name == name) return &s;
    return nullptr;
}

std::int64_t micros(std::chrono::milliseconds ms) { return std::chrono::duration_cast<std::chrono::microseconds>(ms).count(); }

}  // namespace

engine::DriverSettings driver_settings(const Config& config) {
    engine::DriverSettings s;
    s.kafka = config.kafka;
    s.topics = config.topics;
    s.starting_offsets = config.starting_offsets == "latest" ? engine::StartingOffsets::latest : engine::StartingOffsets::earliest;
    s.instance_id = config.instance_id;
    s.trigger = {config.trigger_interval, config.max_records, config.max_bytes};
    s.bounds = {config.min_event_time_us, micros(config.max_event_time_ahead)};
    s.allowed_out_of_orderness_us = micros(config.allowed_out_of_orderness);
    s.idle_timeout_us = micros(config.idle_timeout);
    // Alignment and watermark-only batches serve the windowed tables: without them alignment
    // would only slow the backlog down.
    s.alignment_drift_us = config.windows.enabled ? micros(config.watermark_alignment_drift) : 0;
    s.watermark_batch_step_us = config.windows.enabled ? config.windows.watermark_batch_step_us : 0;
    s.retry_initial = config.postgres_retry_initial;
    s.retry_max = config.postgres_retry_max;
    s.startup_timeout = config.startup_timeout;
    s.shutdown_timeout = config.shutdown_timeout;
    s.ownership_check_interval = config.ownership_check_interval;
    s.progress_interval = config.progress_interval;
    s.offset_out_of_range = config.offset_out_of_range;
    s.stop_when_caught_up = config.stop_when_caught_up;
    return s;
}

std::string run_problem(const Config& config, const std::vector<spec::PipelineSpec>& specs) {
    if (config.pipeline_run == kCompiledPipeline) return {};  // runs without its spec
    const spec::PipelineSpec* spec = find_spec(specs, config.pipeline_run);
    if (!spec) return "pipelines.run: no spec named '" + config.pipeline_run + "' in " + config.pipelines_dir;
    const std::string problem = postgres::runnable_problem(*spec);
    return problem.empty() ? problem : "pipelines.run = " + config.pipeline_run + " (" + spec->file + "): " + problem;
}

StreamService::StreamService(const Config& config, const std::vector<spec::PipelineSpec>& specs, PipelineState& state,
                             metrics::PipelineProbe& probe, SystemdNotifier& systemd)
    : checkpoints_(pg_settings(config), config.instance_id, engine::StreamDriver::stop_flag()),
      sink_reporter_(state, probe),
      driver_reporter_(state, probe, systemd) {
    engine::DriverSettings settings = driver_settings(config);
    auto reconnect = [&probe] { probe.postgres_reconnect(); };
    if (config.pipeline_run == kCompiledPipeline) {
        stage_ = std::make_unique<product_view::ProductViewStage>(config.enrichment, config.max_event_bytes, probe);
        sink_ = std::make_unique<postgres::PostgresBatchSink>(
            [settings = pg_settings(config), windows = config.windows, instance = config.instance_id](const std::atomic<bool>* abort_flag) {
                return std::make_unique<postgres::StarBatchWriter>(settings, windows, instance, abort_flag);
            },
            reconnect);
    } else {
        const spec::PipelineSpec& spec = *find_spec(specs, config.pipeline_run);
        settings.topics = spec.topics;
        if (spec.windows.empty()) settings.alignment_drift_us = settings.watermark_batch_step_us = 0;  // only windows need them
        stage_ = std::make_unique<spec::SpecStage>(spec, config.enrichment, config.max_event_bytes);
        sink_ = std::make_unique<postgres::PostgresBatchSink>(
            [settings = pg_settings(config), &spec, &specs, instance = config.instance_id](const std::atomic<bool>* abort_flag) {
                return std::make_unique<postgres::SpecBatchWriter>(settings, spec, specs, instance, abort_flag);
            },
            reconnect);
    }
    spdlog::info("pipeline {} on topics {}", config.pipeline_run, fmt::join(settings.topics, ","));
    driver_ = std::make_unique<engine::StreamDriver>(std::move(settings), *stage_, checkpoints_, *sink_, sink_reporter_, driver_reporter_);
}

void StreamService::run() {
    try {
        driver_->run();
    } catch (const engine::DriverStop& stop) {
        using Cause = engine::DriverStop::Cause;
        throw FatalStop{stop.message, stop.cause == Cause::sink_refused          ? kExitPostgresRefuses
                                      : stop.cause == Cause::offset_out_of_range ? kExitOffsetOutOfRange
                                                                                 : 1};
    }
}

}  // namespace starstream::daemon
