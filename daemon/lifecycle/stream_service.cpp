#include "lifecycle/stream_service.h"

#include "pipeline/compiled_pipelines.h"
#include "sink/postgres/pg_settings.h"
#include "sink/postgres/spec_batch_writer.h"
#include "spec/spec_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <thread>

namespace starstream::daemon {

namespace {

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
    // Alignment serves the windowed tables (set per pipeline by the service): without them it
    // would only slow the backlog down.
    s.alignment_drift_us = 0;
    s.watermark_batch_step_us = 0;
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

std::vector<std::string> pipelines_to_run(const Config& config) {
    std::vector<std::string> names = comma_list(config.pipeline_run);
    if (names.empty()) names.push_back(Config{}.pipeline_run);
    return names;
}

namespace {

/// The topics pipeline `name` reads: a compiled one's from source.topics, a spec's its own.
std::vector<std::string> topics_of(const Config& config, const std::vector<spec::PipelineSpec>& specs, const std::string& name) {
    if (pipeline::runs_compiled(config, name)) return config.topics;
    return find_spec(specs, name)->topics;
}

}  // namespace

std::string run_problem(const Config& config, const std::vector<spec::PipelineSpec>& specs) {
    // Each pipeline is a consumer of its own: one static member id would fence the others.
    if (pipelines_to_run(config).size() > 1 && config.kafka.count("group.instance.id"))
        return "kafka.group.instance.id: a static group member id cannot be shared by the consumers of several pipelines (pipelines.run = " +
               config.pipeline_run + "); unset it or run one pipeline per instance";
    if (std::string problem = pipeline::compiled_problem(config); !problem.empty()) return problem;
    std::map<std::string, std::string> reader;  // topic -> pipeline
    for (const auto& name : pipelines_to_run(config)) {
        if (!pipeline::runs_compiled(config, name)) {
            const spec::PipelineSpec* spec = find_spec(specs, name);
            if (!spec) return "pipelines.run: no spec named '" + name + "' in " + config.pipelines_dir;
            if (const std::string problem = postgres::runnable_problem(*spec); !problem.empty())
                return "pipelines.run = " + name + " (" + spec->file + "): " + problem;
            if (std::string problem = pipeline::ignored_keys_problem(config, *spec); !problem.empty()) return problem;
        }
        for (const auto& topic : topics_of(config, specs, name)) {
            if (auto [it, added] = reader.emplace(topic, name); !added)
                return "pipelines.run: " + (it->second == name ? "'" + name + "' is named twice"
                                                               : "topic " + topic + " would be read by both " + it->second + " and " + name);
        }
    }
    return {};
}

/// One pipeline: its store, stage, sink, reporters and driver.
struct StreamService::Pipeline {
    spec::PipelineSpec spec;  ///< a spec pipeline's spec as it runs (windows.enabled applied); empty when compiled
    postgres::ProgressStore checkpoints;
    std::unique_ptr<engine::PipelineStage> stage;
    std::unique_ptr<postgres::PostgresBatchSink> sink;
    SinkReporter sink_reporter;
    DriverReporter driver_reporter;
    std::unique_ptr<engine::StreamDriver> driver;  ///< destroyed first: it uses every member above

    Pipeline(const Config& config, PipelineState& state, metrics::PipelineProbe& probe, SystemdNotifier& systemd, std::size_t lane)
        : checkpoints(pg_settings(config), config.instance_id, engine::StreamDriver::stop_flag()),
          sink_reporter(state, probe, lane),
          driver_reporter(state, probe, systemd, lane) {}
};

StreamService::StreamService(const Config& config, const std::vector<spec::PipelineSpec>& specs, PipelineState& state,
                             metrics::PipelineProbe& probe, SystemdNotifier& systemd) {
    const auto names = pipelines_to_run(config);
    for (std::size_t lane = 0; lane < names.size(); ++lane) {
        const std::string& name = names[lane];
        auto p = std::make_unique<Pipeline>(config, state, probe, systemd, lane);
        engine::DriverSettings settings = driver_settings(config);
        auto reconnect = [&probe] { probe.postgres_reconnect(); };
        postgres::PostgresBatchSink::WriterFactory make_writer;
        bool windows = false, watermark_batches = false;
        if (pipeline::runs_compiled(config, name)) {
            pipeline::CompiledPipeline compiled = pipeline::make_compiled(config, name, probe);
            p->stage = std::move(compiled.stage);
            make_writer = std::move(compiled.make_writer);
            settings.topics = std::move(compiled.topics);
            windows = watermark_batches = compiled.windows;
        } else {
            p->spec = *find_spec(specs, name);
            // windows.enabled = false: facts and dimensions only; the windowed tables (made by the
            // migrations from the whole spec) are left as they are until windows are enabled again.
            if (!config.windows.enabled && !p->spec.windows.empty()) {
                spdlog::info("pipeline {}: windows.enabled = false, its {} windowed tables are not maintained", name, p->spec.windows.size());
                p->spec.windows.clear();
            }
            const spec::PipelineSpec& spec = p->spec;
            p->stage = std::make_unique<spec::SpecStage>(spec, config.enrichment, config.max_event_bytes, &probe);
            make_writer = [settings = pg_settings(config), &spec, &specs, instance = config.instance_id](const std::atomic<bool>* abort_flag) {
                return std::make_unique<postgres::SpecBatchWriter>(settings, spec, specs, instance, abort_flag);
            };
            settings.topics = spec.topics;
            windows = !spec.windows.empty();
            // Whenever windows are on: starstream.window_watermark spans every topic of the
            // database, so a quiet spec topic's partitions must not hold another pipeline's windows back either.
            watermark_batches = config.windows.enabled;
        }
        // Watermark-only batches and alignment serve windowed tables: a quiet partition must not
        // hold their watermark back, nor one partition's backlog run far ahead of the others'.
        if (watermark_batches) settings.watermark_batch_step_us = config.windows.watermark_batch_step_us;
        if (windows) settings.alignment_drift_us = micros(config.watermark_alignment_drift);
        p->sink = std::make_unique<postgres::PostgresBatchSink>(std::move(make_writer), reconnect, config.postgres_max_rejected_records);
        spdlog::info("pipeline {} on topics {}", name, fmt::join(settings.topics, ","));
        p->driver = std::make_unique<engine::StreamDriver>(std::move(settings), *p->stage, p->checkpoints, *p->sink, p->sink_reporter,
                                                           p->driver_reporter);
        pipelines_.push_back(std::move(p));
    }
}

StreamService::~StreamService() = default;

bool StreamService::wait_for_source() {
    for (auto& p : pipelines_)
        if (!p->driver->wait_for_source()) return false;
    return true;
}

namespace {

void run_driver(engine::StreamDriver& driver) {
    try {
        driver.run();
    } catch (const engine::DriverStop& stop) {
        using Cause = engine::DriverStop::Cause;
        throw FatalStop{stop.message, stop.cause == Cause::sink_refused          ? kExitPostgresRefuses
                                      : stop.cause == Cause::offset_out_of_range ? kExitOffsetOutOfRange
                                                                                 : 1};
    }
}

}  // namespace

void StreamService::run() {
    if (pipelines_.size() == 1) return run_driver(*pipelines_.front()->driver);
    std::mutex mutex;
    std::exception_ptr first;  // the first pipeline that could not go on stops the others
    std::vector<std::thread> threads;
    for (auto& p : pipelines_)
        threads.emplace_back([&, driver = p->driver.get()] {
            try {
                run_driver(*driver);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!first) first = std::current_exception();
                engine::StreamDriver::request_stop();
            }
        });
    for (auto& t : threads) t.join();
    if (first) std::rethrow_exception(first);
}

}  // namespace starstream::daemon
