// How the stream driver runs: the source, the trigger, event time, ownership, retries and
// shutdown. The daemon fills it from its configuration (config/starstream.conf.example documents
// each key named here).
// Value type; any thread.
#pragma once

#include "batch/trigger_policy.h"
#include "source/kafka_source.h"
#include "time/event_time_bounds.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace starstream::engine {

struct DriverSettings {
    std::map<std::string, std::string> kafka;  ///< librdkafka consumer properties (kafka.*)
    std::vector<std::string> topics;           ///< source.topics
    StartingOffsets starting_offsets = StartingOffsets::earliest;  ///< source.starting_offsets, for partitions without checkpoint
    std::string instance_id;                   ///< instance.id: the owner named in claims
    TriggerPolicy trigger;                     ///< batch.trigger_interval_ms, batch.max_records, batch.max_bytes
    EventTimeBounds bounds;                    ///< time.min_event_time, time.max_event_time_ahead_ms
    std::int64_t allowed_out_of_orderness_us = 0;  ///< time.allowed_out_of_orderness_ms
    std::int64_t idle_timeout_us = 0;              ///< time.idle_timeout_ms
    /// time.watermark_alignment_drift_ms; 0: no alignment (only windows need it).
    std::int64_t alignment_drift_us = 0;
    /// Seal a batch without records when the watermark moved this far (windows of quiet topics
    /// must close); 0: never.
    std::int64_t watermark_batch_step_us = 0;
    std::chrono::milliseconds retry_initial{500}, retry_max{30000};  ///< postgres.retry_*: claims and batch commits
    std::chrono::milliseconds startup_timeout{15000};                ///< source.startup_timeout_ms
    std::chrono::milliseconds shutdown_timeout{10000};               ///< shutdown.timeout_ms
    std::chrono::milliseconds ownership_check_interval{10000};       ///< source.ownership_check_interval_ms
    std::chrono::milliseconds progress_interval{10000};              ///< log.progress_interval_ms
    std::string offset_out_of_range = "fail";  ///< source.offset_out_of_range: fail, earliest or latest
    bool stop_when_caught_up = false;          ///< source.stop_when_caught_up
};

}  // namespace starstream::engine
