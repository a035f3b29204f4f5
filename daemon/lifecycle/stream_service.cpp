#include "lifecycle/stream_service.h"

#include "sink/postgres/pg_settings.h"
#include "sink/postgres/star_batch_writer.h"

namespace starstream::daemon {

namespace {

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

StreamService::StreamService(const Config& config, PipelineState& state, metrics::PipelineProbe& probe, SystemdNotifier& systemd)
    : checkpoints_(pg_settings(config), config.instance_id, engine::StreamDriver::stop_flag()),
      stage_(config.enrichment, config.max_event_bytes, probe),
      sink_([settings = pg_settings(config), windows = config.windows, instance = config.instance_id](const std::atomic<bool>* abort_flag) {
                return std::make_unique<postgres::StarBatchWriter>(settings, windows, instance, abort_flag);
            },
            [&probe] { probe.postgres_reconnect(); }),
      sink_reporter_(state, probe),
      driver_reporter_(state, probe, systemd),
      driver_(std::make_unique<engine::StreamDriver>(driver_settings(config), stage_, checkpoints_, sink_, sink_reporter_, driver_reporter_)) {}

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
