// What the engine's sink loop reports, turned into the daemon's health state (/readyz, /status,
// the systemd watchdog) and Prometheus metrics.
// Thread rules: called on the sink thread; PipelineState and PipelineProbe are thread-safe.
#pragma once

#include "driver/sink_loop.h"
#include "lifecycle/pipeline_state.h"
#include "metrics/pipeline_probe.h"

namespace starstream::daemon {

class SinkReporter final : public engine::SinkObserver {
public:
    /// `lane`: this pipeline's lane in `state`.
    SinkReporter(PipelineState& state, metrics::PipelineProbe& probe, std::size_t lane = 0) : state_(state), probe_(probe), lane_(lane) {}

    void beat() override { state_.sink_beat(lane_); }
    void committed(const engine::MicroBatch& batch, const engine::CommitReport& report) override;
    void write_failed(const engine::SinkResult&) override { probe_.batch_failed(); }
    void retrying(const engine::SinkResult& result) override;
    void landing_resolved(bool landed) override { probe_.commit_outcome_resolved(landed ? "landed" : "rolled_back"); }
    void fenced(std::size_t partitions) override { probe_.partitions_fenced(partitions); }
    void rejected(std::size_t rows) override;
    void checked(const std::string& error) override { state_.postgres_checked(error.empty(), error, lane_); }
    void failed(const engine::SinkFailure& failure) override { state_.commit_failed(failure.message, true, lane_); }

private:
    PipelineState& state_;
    metrics::PipelineProbe& probe_;
    std::size_t lane_;
};

}  // namespace starstream::daemon
