// PipelineProbe: every starstream_* metric, registered once in a prometheus-cpp registry.
// Names follow Prometheus conventions (starstream_ prefix, base units, _total counters,
// _seconds durations); labels are low-cardinality (phase, table, operation, reason,
// topic/partition). `exposition()` renders the registry plus the process_* metrics in the
// text format for GET /metrics.
// Thread rules: every method may be called from any thread (prometheus-cpp metrics are atomic
// and families lock when series are added or removed).
#pragma once

#include "metrics/process_collector.h"
#include "source/topic_partition.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace starstream::daemon::metrics {

class PipelineProbe {
public:
    /// `instance_id` labels starstream_build_info (instance.id), so that a dashboard can tell
    /// the instances of one consumer group apart.
    explicit PipelineProbe(const std::string& instance_id = "");

    void records_consumed(std::size_t n) { consumed_.Increment(static_cast<double>(n)); }
    void records_decoded(std::size_t n) { decoded_.Increment(static_cast<double>(n)); }
    /// `reason` is a dead letter's reason; its label is the part before ':' in snake case.
    void dead_lettered(std::string_view reason);
    void deduplicated(std::size_t n) { deduplicated_.Increment(static_cast<double>(n)); }
    /// Rows written by a batch: table (fact_event, dim_store, ...), operation (inserted, updated, unchanged, deleted).
    void rows_written(const std::string& table, const std::string& operation, std::int64_t n);
    void batch_committed() { batches_committed_.Increment(); }
    void batch_failed() { batches_failed_.Increment(); }
    /// Duration of one batch phase: poll, decode, enrich, stage, merge, commit, and windows (the
    /// part of merge that merges the windowed tables: operators and writes); seconds.
    void phase(const std::string& name, double seconds);
    /// End-to-end freshness of one committed event: commit time minus event time, seconds.
    void freshness(double seconds) { freshness_.Observe(seconds); }
    void postgres_reconnect() { postgres_reconnects_.Increment(); }
    void postgres_retry() { postgres_retries_.Increment(); }
    /// A batch whose COMMIT had no reply was found committed ("landed") or not ("rolled_back").
    void commit_outcome_resolved(const char* outcome) { commit_outcomes_.Add({{"outcome", outcome}}).Increment(); }
    /// Partitions a batch could not commit because their epoch moved (another owner, a reset).
    void partitions_fenced(std::size_t n) { partitions_fenced_.Increment(static_cast<double>(n)); }
    /// A checkpoint outside its partition's log, handled by `policy` (earliest, latest, fail).
    void offset_out_of_range(const std::string& policy) { offset_gaps_.Add({{"policy", policy}}).Increment(); }
    /// Sets the Kafka error counters to the consumer's totals: every error, and the refused SASL
    /// authentications and TLS handshakes among them.
    void kafka_errors(std::uint64_t errors, std::uint64_t authentication_failures);
    /// Sets the lookup counters of pipeline `pipeline`'s enrichment cache ("user_agent", "domain")
    /// to their totals (each pipeline's stage has caches of its own: one series each).
    void cache_lookups(const std::string& pipeline, const std::string& cache, std::uint64_t hits, std::uint64_t misses);
    /// Late records of a windowed table in one batch: dropped, dead-lettered, corrected.
    void late_records(const std::string& table, const std::array<std::uint64_t, 3>& by_policy);
    /// Per-partition gauges: lag (records, seconds), watermark (Unix seconds) and its age (seconds).
    void partition(const engine::TopicPartition& tp, double lag_records, double lag_seconds, double watermark, double watermark_age);
    /// Drops a revoked partition's series.
    void forget(const engine::TopicPartition& tp);
    /// Partitions paused now by watermark alignment (time.watermark_alignment_drift_ms).
    void watermark_alignment_paused(std::size_t n) { alignment_paused_.Set(static_cast<double>(n)); }

    /// The text exposition format (version 0.0.4) of every metric.
    std::string exposition() const;

private:
    struct PartitionGauges {
        prometheus::Gauge *lag_records, *lag_seconds, *watermark, *watermark_age;
    };

    std::shared_ptr<prometheus::Registry> registry_;
    ProcessCollector process_;
    prometheus::Counter& consumed_;
    prometheus::Counter& decoded_;
    prometheus::Family<prometheus::Counter>& dead_letters_;
    prometheus::Counter& deduplicated_;
    prometheus::Family<prometheus::Counter>& rows_;
    prometheus::Counter& batches_committed_;
    prometheus::Counter& batches_failed_;
    prometheus::Family<prometheus::Histogram>& phases_;
    prometheus::Histogram& freshness_;
    prometheus::Counter& postgres_reconnects_;
    prometheus::Counter& postgres_retries_;
    prometheus::Family<prometheus::Counter>& commit_outcomes_;
    prometheus::Counter& partitions_fenced_;
    prometheus::Family<prometheus::Counter>& offset_gaps_;
    prometheus::Counter& kafka_errors_;
    prometheus::Counter& kafka_authentication_failures_;
    prometheus::Family<prometheus::Counter>& late_records_;
    prometheus::Family<prometheus::Counter>& cache_lookups_;
    prometheus::Family<prometheus::Gauge>& lag_records_;
    prometheus::Family<prometheus::Gauge>& lag_seconds_;
    prometheus::Family<prometheus::Gauge>& watermark_;
    prometheus::Family<prometheus::Gauge>& watermark_age_;
    prometheus::Gauge& alignment_paused_;
    std::mutex partitions_mutex_;
    std::map<engine::TopicPartition, PartitionGauges> partitions_;
};

}  // namespace starstream::daemon::metrics
