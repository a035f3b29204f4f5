// What the stream driver reports while it runs: heartbeats, counts, phases, partition status,
// the source's health, life-cycle moments. The daemon turns them into /status, /readyz, /livez,
// Prometheus metrics and systemd notifications; the engine knows none of those.
// Thread rules: every method on the poll thread.
#pragma once

#include "source/topic_partition.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::engine {

/// One owned partition as the driver sees it.
struct PartitionStatus {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t position = -1;        ///< next offset to consume; -1 before the first message
    std::int64_t high_watermark = -1;  ///< offset after the partition's last message; -1 unknown
    std::int64_t lag_records = 0;
    double lag_seconds = 0;            ///< age of the last consumed message while lagging, else 0
    double watermark = -1;             ///< event-time watermark, Unix seconds; -1 before the first event
    bool aligned_paused = false;       ///< paused by watermark alignment: its watermark runs too far ahead
};

class DriverObserver {
public:
    virtual ~DriverObserver() = default;

    /// The poll loop is alive (every round, also while waiting for the source).
    virtual void heartbeat() = 0;
    /// The source cannot be used yet: `failure` says why ("" when it answers again). Errors are
    /// librdkafka's error and authentication-failure counts so far.
    virtual void source_health(const std::string& failure, std::uint64_t errors, std::uint64_t authentication_failures) = 0;
    /// Once a round while wait_for_source() waits for the brokers (the sink loop has not started
    /// yet); `failure` as for source_health.
    virtual void waiting_for_source(const std::string& failure) = 0;
    /// The first partitions are claimed: the process is ready.
    virtual void ready(std::size_t partitions) = 0;
    virtual void consumed(std::size_t records) = 0;
    virtual void decoded(std::size_t records) = 0;
    virtual void dead_lettered(std::string_view reason) = 0;
    /// Seconds a sealed batch spent in a poll-thread phase ("poll", "decode", "enrich").
    virtual void phase(const std::string& name, double seconds) = 0;
    virtual void offset_out_of_range(const std::string& policy) = 0;
    virtual void alignment_held(std::size_t partitions) = 0;
    /// Every owned partition, once a second; `assigned` false while none is.
    virtual void partitions(std::vector<PartitionStatus> partitions, bool assigned) = 0;
    /// `tp` is no longer ours: forget what was reported of it.
    virtual void forget(const TopicPartition& tp) = 0;
    /// A progress line's summary (the daemon also logs it).
    virtual void progress(const std::string& summary) = 0;
    /// Shutting down: committing the open batch.
    virtual void stopping() = 0;
};

}  // namespace starstream::engine
