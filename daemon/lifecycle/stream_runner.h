// The product_view stream, end to end: Kafka source -> decode -> star rows -> micro-batch
// trigger -> handoff -> SinkWorker (Postgres) -> Kafka group commit.
//
// The poll loop runs on the caller's thread; it seals a batch when the trigger fires and
// hands it to the sink thread; when the sink is still busy with the previous one, the loop
// takes no record and only serves callbacks until the handoff frees (bounded memory: the
// partitions' queues fill, then librdkafka stops fetching them).
// Rebalances: on revocation the open batch is flushed and committed (within
// shutdown.timeout_ms; what is not committed by then is left to the next owner) before the
// partitions go; on assignment partitions are claimed in Postgres (epoch + 1, this instance as
// owner) and start at their checkpoint.
// Ownership: a partition whose epoch moved (a batch was fenced, or the periodic check every
// source.ownership_check_interval_ms saw it) is claimed again when the progress row still names
// this instance (an operator's reset: re-read from the new position), else released (another
// instance owns it: no more fetching, no watermark, no metrics, until the next rebalance).
// Positions outside the log are handled by source.offset_out_of_range and recorded.
// Watermark alignment (time.watermark_alignment_drift_ms): after every poll burst, and at once
// when a record takes a partition's watermark past the alignment ceiling, the partitions that
// run too far ahead of the slowest are held (no record taken from them) and the others consumed
// (engine/time/watermark_alignment.h decides, KafkaSource::hold_for_alignment applies).
// Each partition commits WatermarkTracker::committed_watermark with its offset: an idle one
// commits at least now - out-of-orderness, so it does not hold the topic's watermark back.
// Thread rules: construct and run() on one thread (rebalance callbacks run inside run());
// request_stop() from anywhere, signal handlers included (it only stores an atomic flag).
// Destroying the runner closes the consumer first (its revoke callback uses the members).
#pragma once

#include "config/config.h"
#include "lifecycle/pipeline_state.h"
#include "metrics/pipeline_probe.h"
#include "batch/trigger_policy.h"
#include "time/event_time_bounds.h"
#include "time/watermark_alignment.h"
#include "time/watermark_tracker.h"
#include "lifecycle/fatal_stop.h"
#include "lifecycle/sink_worker.h"
#include "lifecycle/systemd_notifier.h"
#include "pipeline/product_view/decoder.h"
#include "enrichment/enrichment.h"
#include "pipeline/product_view/star_batch_builder.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/pg_settings.h"
#include "checkpoint/checkpoint_store.h"
#include "source/kafka_source.h"

#include <atomic>
#include <limits>
#include <memory>

namespace starstream::daemon {

class StreamRunner final : public engine::RebalanceListener {
public:
    /// Connects to Postgres and creates the Kafka consumer; throws ConfigError-like
    /// std::runtime_error / engine::SourceConfigError / postgres::PgError on failure.
    StreamRunner(const Config& config, PipelineState& state, metrics::PipelineProbe& probe, SystemdNotifier& systemd);
    ~StreamRunner() override;

    /// Waits until the brokers answer and checks that the topics exist. A cluster that refuses
    /// the credentials or certificate is waited for without a deadline (reported once, /readyz
    /// 503, librdkafka reconnecting with backoff): the fix may come from the broker's side.
    /// Returns false when request_stop() came first. Throws std::runtime_error when no broker
    /// answers within source.startup_timeout_ms or a topic is missing.
    bool wait_for_source();
    /// Consumes until request_stop() or, with source.stop_when_caught_up, until caught up.
    /// Returns normally after a clean shutdown (open batch committed or abandoned, group left).
    /// Throws FatalStop when an operator must act (the sink gave up, a position is out of range
    /// under policy fail), std::runtime_error on a fatal Kafka error.
    void run();
    static void request_stop() { stop_requested_ = true; }

    std::map<engine::TopicPartition, engine::PartitionPosition> on_assigned(const std::vector<engine::TopicPartition>& partitions) override;
    void on_revoked(const std::vector<engine::TopicPartition>& partitions) override;

private:
    void add_record(const engine::SourceRecord& record);
    /// Hands the open batch to the sink, waiting for it until `wait_until` at most; an empty
    /// batch only when `watermark_only` (windows of quiet partitions, offset gaps). Returns
    /// whether the batch was handed off (or there was nothing to hand off).
    bool seal_and_hand_off(std::chrono::steady_clock::time_point wait_until, bool watermark_only = false);
    /// Acts on partitions whose epoch moved away from `lost` (partition -> the epoch we had).
    void follow_ownership(const std::map<engine::TopicPartition, std::int64_t>& lost);
    /// Compares the owned partitions' epochs with the progress table (online resets).
    void check_ownership();
    /// Adopts claimed positions: epochs, positions, restored watermarks.
    void adopt(const std::map<engine::TopicPartition, engine::PartitionPosition>& positions);
    /// Forgets a partition that is no longer ours (revoked or released).
    void forget(const engine::TopicPartition& tp);
    /// Restarts fetching every owned partition at its position (after a claim or a gap).
    void reposition();
    /// Applies source.offset_out_of_range to a position the broker refused.
    void on_out_of_range(const engine::OffsetOutOfRange& refused);
    /// Stops at once when the sink gave up: throws its FatalStop.
    void check_sink();
    /// Closes the consumer without handing anything more to the sink (failure paths).
    void close_quietly();
    bool watermark_batch_due();
    /// `tp` was consumed to its end, `end_offset` (-1 unknown).
    void at_end(const engine::TopicPartition& tp, std::int64_t end_offset);
    /// Decides watermark alignment anew and holds or releases partitions accordingly.
    void align();
    /// Sets the alignment gauge; logs at info when the number of held partitions changed (at
    /// most once per log.progress_interval_ms).
    void report_alignment(const engine::AlignmentDecision& decision);
    /// After backpressure: marks caught up again the partitions still at their high watermark.
    void recheck_caught_up();
    void new_batch();
    bool caught_up() const;
    void log_progress();
    void publish_partitions();
    void feed_watchdog();
    std::uint16_t topic_index(std::string_view topic);

    static inline std::atomic<bool> stop_requested_{false};

    const Config& config_;
    PipelineState& state_;
    metrics::PipelineProbe& probe_;
    SystemdNotifier& systemd_;
    bool ready_sent_ = false;
    std::chrono::steady_clock::time_point next_watchdog_{};
    engine::TriggerPolicy trigger_;
    engine::WatermarkTracker watermarks_;
    engine::WatermarkAlignment alignment_;
    /// A record taking its partition's watermark past this re-decides alignment at once
    /// (microseconds; max: only after the poll burst; kNoWatermark: at the next record).
    std::int64_t alignment_ceiling_us_ = std::numeric_limits<std::int64_t>::max();
    std::size_t alignment_logged_ = 0;  ///< held partitions in the last alignment log line
    std::chrono::steady_clock::time_point next_alignment_log_{};
    std::int64_t now_us_ = 0;  ///< wall clock, Unix microseconds, read once per poll burst
    std::unique_ptr<engine::CheckpointStore> checkpoints_;  ///< starstream.progress (postgres::ProgressStore)
    engine::EventTimeBounds bounds_;  ///< time.min_event_time .. now + time.max_event_time_ahead_ms
    enrichment::Enrichment enrichment_;
    product_view::Decoder decoder_;
    product_view::StarBatchBuilder builder_;
    BatchQueue queue_;
    std::unique_ptr<engine::KafkaSource> source_;
    std::unique_ptr<SinkWorker> sink_;

    product_view::StarBatch batch_;
    product_view::ProductViewEvent event_;
    std::chrono::steady_clock::time_point batch_started_;
    bool closing_quietly_ = false;  ///< revocations hand nothing to the sink
    std::chrono::steady_clock::time_point next_ownership_check_{};
    std::map<engine::TopicPartition, std::int64_t> epochs_;  ///< claimed partitions and our epoch
    std::set<engine::TopicPartition> at_end_;                 ///< partitions consumed to their end
    struct PartitionProgress {
        std::int64_t position = -1;         ///< next offset; -1 before the first message
        std::int64_t last_timestamp_ms = -1; ///< Kafka timestamp of the last consumed message
        bool delivered = false;              ///< a record arrived since the claim or reposition (alignment may hold it)
    };
    std::map<engine::TopicPartition, PartitionProgress> progress_by_partition_;
    std::int64_t consumed_ = 0, dead_lettered_ = 0, consumed_at_last_progress_ = 0;
    bool backpressure_ = false;  ///< the open batch is full and the sink busy: no record is taken
    std::int64_t sealed_watermark_us_ = engine::kNoWatermark;  ///< operator watermark of the last batch handed off
    double decode_seconds_ = 0, enrich_seconds_ = 0;  ///< of the batch being filled
    std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
};

}  // namespace starstream::daemon
