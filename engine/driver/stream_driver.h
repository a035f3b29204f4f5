// The stream driver, generic over the pipeline: Kafka source -> the pipeline's stage (decode,
// event time, operators) -> micro-batch trigger -> handoff -> SinkLoop (a BatchSink) -> Kafka
// group commit. It owns the loop that polls, claims, fences, applies backpressure and
// checkpoints; the daemon hands it the stage, the sink, the checkpoint store and an observer.
//
// The poll loop runs on the caller's thread; it seals a batch when the trigger fires and
// hands it to the sink thread; when the sink is still busy with the previous one, the loop
// takes no record and only serves callbacks until the handoff frees (bounded memory: the
// partitions' queues fill, then librdkafka stops fetching them).
// Rebalances: on revocation the open batch is flushed and committed (within
// shutdown_timeout; what is not committed by then is left to the next owner) before the
// partitions go; on assignment partitions are claimed in the checkpoint store (epoch + 1, this
// instance as owner) and start at their checkpoint.
// Ownership: a partition whose epoch moved (a batch was fenced, or the periodic check every
// ownership_check_interval saw it) is claimed again when the store still names this instance
// (an operator's reset: re-read from the new position), else released (another instance owns
// it: no more fetching, no watermark, no metrics, until the next rebalance).
// Positions outside the log are handled by offset_out_of_range and recorded.
// Watermark alignment (alignment_drift_us): after every poll burst, and at once when a record
// takes a partition's watermark past the alignment ceiling, the partitions that run too far
// ahead of the slowest are held (no record taken from them) and the others consumed
// (time/watermark_alignment.h decides, KafkaSource::hold_for_alignment applies).
// Each partition commits WatermarkTracker::committed_watermark with its offset: an idle one
// commits at least now - out-of-orderness, so it does not hold the topic's watermark back.
// Thread rules: construct and run() on one thread (rebalance callbacks run inside run());
// request_stop() from anywhere, signal handlers included (it only stores an atomic flag).
// Destroying the driver closes the consumer first (its revoke callback uses the members).
#pragma once

#include "batch/micro_batch.h"
#include "checkpoint/checkpoint_store.h"
#include "driver/batch_sink.h"
#include "driver/driver_observer.h"
#include "driver/driver_settings.h"
#include "driver/kafka_source_link.h"
#include "driver/pipeline_stage.h"
#include "driver/sink_loop.h"
#include "source/kafka_source.h"
#include "time/watermark_alignment.h"
#include "time/watermark_tracker.h"

#include <atomic>
#include <limits>
#include <memory>
#include <set>

namespace starstream::engine {

/// Why the driver stopped although nobody asked it to: an operator must act.
struct DriverStop {
    enum class Cause {
        sink_refused,         ///< the sink refuses a batch and no record is to blame
        offset_out_of_range,  ///< a checkpoint outside the log under offset_out_of_range = fail
        fault,                ///< the sink failed for another reason
    };
    std::string message;
    Cause cause = Cause::fault;
};

class StreamDriver final : public RebalanceListener {
public:
    /// Creates the Kafka consumer (throws SourceConfigError naming a bad kafka.* key) and the
    /// sink loop over `sink`; nothing connects yet. Every reference must outlive the driver.
    StreamDriver(DriverSettings settings, PipelineStage& stage, CheckpointStore& checkpoints, BatchSink& sink, SinkObserver& sink_observer,
                 DriverObserver& observer);
    ~StreamDriver() override;

    /// Waits until the brokers answer and checks that the topics exist, then registers the
    /// topics' partitions in the checkpoint store. A cluster that refuses the credentials or
    /// certificate is waited for without a deadline (reported once through source_health,
    /// librdkafka reconnecting with backoff): the fix may come from the broker's side.
    /// Returns false when request_stop() came first. Throws std::runtime_error when no broker
    /// answers within startup_timeout or a topic is missing, StoreError when registering fails.
    bool wait_for_source();
    /// Consumes until request_stop() or, with stop_when_caught_up, until caught up.
    /// Returns normally after a clean shutdown (open batch committed or abandoned, group left).
    /// Throws DriverStop when an operator must act, std::runtime_error on a fatal Kafka error.
    void run();
    static void request_stop() { stop_requested_ = true; }
    /// The flag request_stop() sets, for calls that must give up when it does (a store connecting).
    static const std::atomic<bool>* stop_flag() { return &stop_requested_; }

    std::map<TopicPartition, PartitionPosition> on_assigned(const std::vector<TopicPartition>& partitions) override;
    void on_revoked(const std::vector<TopicPartition>& partitions) override;

private:
    void add_record(const SourceRecord& record);
    /// Hands the open batch to the sink, waiting for it until `wait_until` at most; an empty
    /// batch only when `watermark_only` (windows of quiet partitions, offset gaps). Returns
    /// whether the batch was handed off (or there was nothing to hand off).
    bool seal_and_hand_off(std::chrono::steady_clock::time_point wait_until, bool watermark_only = false);
    /// Acts on partitions whose epoch moved away from `lost` (partition -> the epoch we had).
    void follow_ownership(const std::map<TopicPartition, std::int64_t>& lost);
    /// Compares the owned partitions' epochs with the progress table (online resets).
    void check_ownership();
    /// Adopts claimed positions: epochs, positions, restored watermarks.
    void adopt(const std::map<TopicPartition, PartitionPosition>& positions);
    /// Forgets a partition that is no longer ours (revoked or released).
    void forget(const TopicPartition& tp);
    /// Restarts fetching every owned partition at its position (after a claim or a gap).
    void reposition();
    /// Applies source.offset_out_of_range to a position the broker refused.
    void on_out_of_range(const OffsetOutOfRange& refused);
    /// Stops at once when the sink gave up: throws DriverStop.
    void check_sink();
    /// Closes the consumer without handing anything more to the sink (failure paths).
    void close_quietly();
    bool watermark_batch_due();
    /// `tp` was consumed to its end, `end_offset` (-1 unknown).
    void at_end(const TopicPartition& tp, std::int64_t end_offset);
    /// Decides watermark alignment anew and holds or releases partitions accordingly.
    void align();
    /// Sets the alignment gauge; logs at info when the number of held partitions changed (at
    /// most once per log.progress_interval_ms).
    void report_alignment(const AlignmentDecision& decision);
    /// After backpressure: marks caught up again the partitions still at their high watermark.
    void recheck_caught_up();
    void new_batch();
    bool caught_up() const;
    void log_progress();
    void publish_partitions();

    static inline std::atomic<bool> stop_requested_{false};

    const DriverSettings settings_;
    PipelineStage& stage_;
    CheckpointStore& checkpoints_;
    DriverObserver& observer_;
    bool ready_sent_ = false;
    WatermarkTracker watermarks_;
    WatermarkAlignment alignment_;
    /// A record taking its partition's watermark past this re-decides alignment at once
    /// (microseconds; max: only after the poll burst; kNoWatermark: at the next record).
    std::int64_t alignment_ceiling_us_ = std::numeric_limits<std::int64_t>::max();
    std::size_t alignment_logged_ = 0;  ///< held partitions in the last alignment log line
    std::chrono::steady_clock::time_point next_alignment_log_{};
    std::int64_t now_us_ = 0;  ///< wall clock, Unix microseconds, read once per poll burst
    BatchQueue queue_;
    std::unique_ptr<KafkaSource> source_;
    std::unique_ptr<KafkaSourceLink> source_link_;
    std::unique_ptr<SinkLoop> sink_;  ///< destroyed first: it uses the source link

    std::unique_ptr<MicroBatch> batch_;  ///< the open batch, never null
    std::chrono::steady_clock::time_point batch_started_;
    bool closing_quietly_ = false;  ///< revocations hand nothing to the sink
    std::chrono::steady_clock::time_point next_ownership_check_{};
    std::map<TopicPartition, std::int64_t> epochs_;  ///< claimed partitions and our epoch
    std::set<TopicPartition> at_end_;                 ///< partitions consumed to their end
    struct PartitionProgress {
        std::int64_t position = -1;         ///< next offset; -1 before the first message
        std::int64_t last_timestamp_ms = -1; ///< Kafka timestamp of the last consumed message
        bool delivered = false;              ///< a record arrived since the claim or reposition (alignment may hold it)
    };
    std::map<TopicPartition, PartitionProgress> progress_by_partition_;
    std::int64_t consumed_ = 0, dead_lettered_ = 0, consumed_at_last_progress_ = 0;
    std::int64_t published_lag_ = 0;  ///< records behind the high watermarks, summed at the last publish_partitions()
    bool backpressure_ = false;  ///< the open batch is full and the sink busy: no record is taken
    std::int64_t sealed_watermark_us_ = kNoWatermark;  ///< operator watermark of the last batch handed off
    double decode_seconds_ = 0, enrich_seconds_ = 0;  ///< of the batch being filled
    std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
};

}  // namespace starstream::engine
