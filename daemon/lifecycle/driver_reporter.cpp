#include "lifecycle/driver_reporter.h"

#include "http/health_checks.h"

#include <algorithm>

namespace starstream::daemon {

void DriverReporter::heartbeat() {
    state_.consume_beat(lane_);
    const auto period = systemd_.watchdog_period();
    if (!period || std::chrono::steady_clock::now() < next_watchdog_) return;
    next_watchdog_ = std::chrono::steady_clock::now() + *period;
    http::HealthLimits limits;
    limits.liveness_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*period * 2);
    const auto checks = http::liveness(state_.snapshot(), limits, std::chrono::steady_clock::now());
    if (std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok; })) systemd_.notify("WATCHDOG=1");
}

void DriverReporter::source_health(const std::string& failure, std::uint64_t errors, std::uint64_t authentication_failures) {
    state_.kafka_security(failure);
    probe_.kafka_errors(errors, authentication_failures);
}

void DriverReporter::waiting_for_source(const std::string& failure) {
    // Waiting for the cluster is the process working as meant: the sink thread has not started
    // yet, so its heartbeat is kept fresh here.
    state_.sink_beat(lane_);
    if (!failure.empty()) systemd_.notify("STATUS=waiting for Kafka: " + failure);
}

void DriverReporter::ready(std::size_t partitions) {
    // Migrated (before the driver existed) and assigned: ready for systemd once every pipeline is.
    if (state_.mark_ready(lane_)) systemd_.notify("READY=1\nSTATUS=consuming " + std::to_string(partitions) + " partitions");
}

void DriverReporter::partitions(std::vector<engine::PartitionStatus> partitions, bool assigned) {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& s : partitions) {
        const double age = s.watermark >= 0 ? now - s.watermark : 0;
        probe_.partition({s.topic, s.partition}, static_cast<double>(s.lag_records), s.lag_seconds, std::max(0.0, s.watermark), age);
    }
    state_.set_partitions(std::move(partitions), assigned, lane_);
}

}  // namespace starstream::daemon
