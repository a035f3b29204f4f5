// What the running pipeline reports about itself, for /status, /readyz and /livez: the
// assigned partitions with position, high watermark, lag and watermark; the last committed
// batch and its timings; whether Postgres answered last time; whether the Kafka cluster
// refuses our credentials or certificate; loop heartbeats.
// Several pipelines in one process report in lanes (one per pipeline), merged by snapshot().
// Thread rules: writers are the consume and sink threads, readers the HTTP thread; every
// method locks (snapshots are copies).
#pragma once

#include "driver/driver_observer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace starstream::daemon {

using engine::PartitionStatus;

struct BatchStatus {
    std::int64_t batch_id = 0;
    std::size_t records = 0;
    double stage_seconds = 0, merge_seconds = 0, commit_seconds = 0;
    double committed_at = 0;  ///< Unix seconds
};

struct PipelineSnapshot {
    std::vector<PartitionStatus> partitions;
    bool assigned = false;
    BatchStatus last_batch;
    bool last_commit_failed = false;
    std::string last_error;  ///< of the last failed commit or Postgres check; never holds secrets
    bool postgres_reachable = true;
    std::string kafka_security_failure;  ///< refused SASL authentication or TLS handshake; "" when none (redacted)
    std::chrono::steady_clock::time_point consume_heartbeat, sink_heartbeat, started;
};

class PipelineState {
public:
    /// `lanes`: the pipelines the process runs (each reports its partitions and heartbeats in its
    /// own lane; a snapshot merges them: every partition, assigned when every lane is, and each
    /// heartbeat the oldest of the lanes', so one hung pipeline is seen).
    explicit PipelineState(std::size_t lanes = 1) : lanes_(lanes == 0 ? 1 : lanes) {
        auto now = std::chrono::steady_clock::now();
        s_.consume_heartbeat = s_.sink_heartbeat = s_.started = now;
        for (auto& lane : lanes_) lane.consume_heartbeat = lane.sink_heartbeat = now;
    }
    void set_partitions(std::vector<PartitionStatus> partitions, bool assigned, std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        lanes_.at(lane).partitions = std::move(partitions);
        lanes_.at(lane).assigned = assigned;
    }
    void batch_committed(const BatchStatus& batch, std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        s_.last_batch = batch;
        lanes_.at(lane).commit_failed = false;
        lanes_.at(lane).postgres_reachable = true;
    }
    void commit_failed(std::string error, bool postgres_reachable, std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        lanes_.at(lane).commit_failed = true;
        lanes_.at(lane).postgres_reachable = postgres_reachable;
        lanes_.at(lane).last_error = std::move(error);
    }
    /// The sink's idle check of the connection.
    void postgres_checked(bool reachable, std::string error = {}, std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        lanes_.at(lane).postgres_reachable = reachable;
        if (!reachable) lanes_.at(lane).last_error = std::move(error);
    }
    /// The Kafka source's current security failure (KafkaSource::security_failure()).
    void kafka_security(std::string failure) {
        std::lock_guard lock(mutex_);
        s_.kafka_security_failure = std::move(failure);
    }
    /// `lane` claimed its first partitions; true once every lane has (the process is ready), and
    /// only for the call that completes the set.
    bool mark_ready(std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        if (lanes_.at(lane).ready) return false;
        lanes_.at(lane).ready = true;
        return std::all_of(lanes_.begin(), lanes_.end(), [](const Lane& l) { return l.ready; });
    }
    void consume_beat(std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        lanes_.at(lane).consume_heartbeat = std::chrono::steady_clock::now();
    }
    void sink_beat(std::size_t lane = 0) {
        std::lock_guard lock(mutex_);
        lanes_.at(lane).sink_heartbeat = std::chrono::steady_clock::now();
    }
    PipelineSnapshot snapshot() const {
        std::lock_guard lock(mutex_);
        PipelineSnapshot out = s_;
        out.assigned = true;
        out.consume_heartbeat = out.sink_heartbeat = std::chrono::steady_clock::time_point::max();
        out.last_commit_failed = false;
        out.postgres_reachable = true;
        for (const auto& lane : lanes_) {
            out.partitions.insert(out.partitions.end(), lane.partitions.begin(), lane.partitions.end());
            out.assigned = out.assigned && lane.assigned;
            // One pipeline failing is the process failing: another's success does not hide it.
            if ((lane.commit_failed || !lane.postgres_reachable) && (!out.last_commit_failed && out.postgres_reachable))
                out.last_error = lane.last_error;
            out.last_commit_failed = out.last_commit_failed || lane.commit_failed;
            out.postgres_reachable = out.postgres_reachable && lane.postgres_reachable;
            out.consume_heartbeat = std::min(out.consume_heartbeat, lane.consume_heartbeat);
            out.sink_heartbeat = std::min(out.sink_heartbeat, lane.sink_heartbeat);
        }
        return out;
    }

private:
    struct Lane {
        std::vector<PartitionStatus> partitions;
        bool assigned = false;
        bool ready = false;
        bool commit_failed = false, postgres_reachable = true;
        std::string last_error;
        std::chrono::steady_clock::time_point consume_heartbeat, sink_heartbeat;
    };
    mutable std::mutex mutex_;
    PipelineSnapshot s_;  ///< what the lanes share (the last batch, Kafka security); the rest is per lane
    std::vector<Lane> lanes_;
};

}  // namespace starstream::daemon
