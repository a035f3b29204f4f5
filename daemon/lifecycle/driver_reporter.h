// What the engine's stream driver reports, turned into the daemon's health state (/status,
// /readyz, /livez), Prometheus metrics and systemd notifications (READY, STATUS, STOPPING, and
// WATCHDOG=1 only while both loops prove progress: a hung commit stops the feeding and systemd
// restarts the service, WatchdogSec=).
// Thread rules: the poll thread; PipelineState, PipelineProbe and SystemdNotifier are thread-safe.
#pragma once

#include "driver/driver_observer.h"
#include "lifecycle/pipeline_state.h"
#include "lifecycle/systemd_notifier.h"
#include "metrics/pipeline_probe.h"

#include <chrono>

namespace starstream::daemon {

class DriverReporter final : public engine::DriverObserver {
public:
    /// `lane`: this pipeline's lane in `state`.
    DriverReporter(PipelineState& state, metrics::PipelineProbe& probe, SystemdNotifier& systemd, std::size_t lane = 0)
        : state_(state), probe_(probe), systemd_(systemd), lane_(lane) {}

    void heartbeat() override;
    void source_health(const std::string& failure, std::uint64_t errors, std::uint64_t authentication_failures) override;
    void waiting_for_source(const std::string& failure) override;
    void ready(std::size_t partitions) override;
    void consumed(std::size_t records) override { probe_.records_consumed(records); }
    void decoded(std::size_t records) override { probe_.records_decoded(records); }
    void dead_lettered(std::string_view reason) override { probe_.dead_lettered(reason); }
    void phase(const std::string& name, double seconds) override { probe_.phase(name, seconds); }
    void offset_out_of_range(const std::string& policy) override { probe_.offset_out_of_range(policy); }
    void alignment_held(std::size_t partitions) override { probe_.watermark_alignment_paused(partitions); }
    void partitions(std::vector<engine::PartitionStatus> partitions, bool assigned) override;
    void forget(const engine::TopicPartition& tp) override { probe_.forget(tp); }
    void progress(const std::string& summary) override { systemd_.notify("STATUS=" + summary); }
    void stopping() override { systemd_.notify("STOPPING=1\nSTATUS=stopping: committing the open batch"); }

private:
    PipelineState& state_;
    metrics::PipelineProbe& probe_;
    SystemdNotifier& systemd_;
    std::size_t lane_;
    std::chrono::steady_clock::time_point next_watchdog_{};
};

}  // namespace starstream::daemon
