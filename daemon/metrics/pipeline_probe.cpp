#include "metrics/pipeline_probe.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace starstream::daemon::metrics {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Batch phases run from milliseconds to seconds; freshness from a second to hours.
const prometheus::Histogram::BucketBoundaries kPhaseBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const prometheus::Histogram::BucketBoundaries kFreshnessBuckets{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400};

std::string reason_label(std::string_view reason) {
    std::string label(reason.substr(0, reason.find(':')));
    for (char& c : label) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
    return label;
}

/// Counters only go up: sets `counter` to a total kept elsewhere by adding what is new.
void raise_to(prometheus::Counter& counter, std::uint64_t total) { counter.Increment(static_cast<double>(total) - counter.Value()); }

}  // namespace

PipelineProbe::PipelineProbe(const std::string& instance_id)
    : registry_(std::make_shared<prometheus::Registry>()),
      consumed_(BuildCounter().Name("starstream_records_consumed_total").Help("Kafka messages consumed.").Register(*registry_).Add({})),
      decoded_(BuildCounter().Name("starstream_records_decoded_total").Help("Messages decoded into valid events.").Register(*registry_).Add({})),
      dead_letters_(BuildCounter().Name("starstream_dead_letters_total").Help("Messages written to the dead letter table, by reason.").Register(*registry_)),
      deduplicated_(BuildCounter().Name("starstream_records_deduplicated_total").Help("Valid events dropped because their id was already seen.").Register(*registry_).Add({})),
      rows_(BuildCounter().Name("starstream_rows_written_total").Help("Rows merged into Postgres, by table and operation (inserted, updated, unchanged, deleted: visits merged into others).").Register(*registry_)),
      batches_committed_(BuildCounter().Name("starstream_batches_committed_total").Help("Micro-batches committed to Postgres.").Register(*registry_).Add({})),
      batches_failed_(BuildCounter().Name("starstream_batches_failed_total").Help("Micro-batch commit attempts that failed and were rolled back.").Register(*registry_).Add({})),
      phases_(BuildHistogram().Name("starstream_batch_phase_duration_seconds").Help("Duration of each micro-batch phase.").Register(*registry_)),
      freshness_(BuildHistogram().Name("starstream_event_freshness_seconds").Help("Commit time minus event time of committed events.").Register(*registry_).Add({}, kFreshnessBuckets)),
      postgres_reconnects_(BuildCounter().Name("starstream_postgres_reconnects_total").Help("New Postgres connections after a lost one.").Register(*registry_).Add({})),
      postgres_retries_(BuildCounter().Name("starstream_postgres_retries_total").Help("Batch commits retried after a failure.").Register(*registry_).Add({})),
      commit_outcomes_(BuildCounter().Name("starstream_commit_outcome_unknown_total").Help("Batches whose COMMIT reply was lost, by what the progress rows showed afterwards (landed, rolled_back).").Register(*registry_)),
      partitions_fenced_(BuildCounter().Name("starstream_partitions_fenced_total").Help("Partitions left out of a batch because their owner epoch moved (another instance claimed them, or an operator reset them).").Register(*registry_).Add({})),
      offset_gaps_(BuildCounter().Name("starstream_offset_out_of_range_total").Help("Checkpoints found outside their partition's log, by policy (earliest, latest, fail); see starstream.offset_gap.").Register(*registry_)),
      kafka_errors_(BuildCounter().Name("starstream_kafka_errors_total").Help("Errors reported by the Kafka consumer.").Register(*registry_).Add({})),
      kafka_authentication_failures_(BuildCounter().Name("starstream_kafka_authentication_failures_total").Help("Connection attempts the Kafka cluster refused: SASL authentication or TLS handshake (included in starstream_kafka_errors_total).").Register(*registry_).Add({})),
      late_records_(BuildCounter().Name("starstream_late_records_total").Help("Records below the operator watermark, by windowed table and policy (dropped, dead-lettered, corrected).").Register(*registry_)),
      cache_lookups_(BuildCounter().Name("starstream_enrichment_cache_lookups_total").Help("Enrichment cache lookups, by pipeline, cache (user_agent, domain) and result (hit, miss).").Register(*registry_)),
      lag_records_(BuildGauge().Name("starstream_consumer_lag_records").Help("High watermark minus position, per partition.").Register(*registry_)),
      lag_seconds_(BuildGauge().Name("starstream_consumer_lag_seconds").Help("Age of the last consumed message while a partition lags, else 0.").Register(*registry_)),
      watermark_(BuildGauge().Name("starstream_watermark_timestamp_seconds").Help("Event-time watermark per partition, Unix seconds.").Register(*registry_)),
      watermark_age_(BuildGauge().Name("starstream_watermark_age_seconds").Help("Wall clock minus the watermark, per partition.").Register(*registry_)),
      alignment_paused_(BuildGauge().Name("starstream_watermark_alignment_paused_partitions").Help("Partitions of this instance paused because their watermark ran more than time.watermark_alignment_drift_ms ahead of the slowest partition.").Register(*registry_).Add({})) {
    BuildGauge().Name("starstream_build_info").Help("Build information; the value is always 1.").Register(*registry_).Add({{"version", STARSTREAM_VERSION}, {"instance", instance_id}}).Set(1);
    for (const char* outcome : {"landed", "rolled_back"}) commit_outcomes_.Add({{"outcome", outcome}});
    for (const char* policy : {"earliest", "latest", "fail"}) offset_gaps_.Add({{"policy", policy}});
    for (const char* phase : {"poll", "decode", "enrich", "stage", "merge", "windows", "commit"}) phases_.Add({{"phase", phase}}, kPhaseBuckets);
    // Every known reason starts at 0, so that rate() and alerts see the series from the start.
    // The compiled decoder's reasons, then the spec decoder's (spec/record_decoder.cpp) beyond them.
    for (const char* reason : {"invalid JSON", "invalid UTF-8", "missing field", "wrong type", "invalid string", "oversized",
                               "event_time_out_of_range", "rejected by Postgres", "not a JSON object", "invalid field", "wrong format",
                               "out of range", "not allowed", "pattern mismatch", "too long"})
        dead_letters_.Add({{"reason", reason_label(reason)}});
    for (const char* table : {"fact_event", "dead_letter", "dim_date", "dim_store", "dim_product", "dim_location", "dim_user_agent",
                              "dim_referrer", "dim_collection"})
        for (const char* operation : {"inserted", "updated", "unchanged"}) rows_.Add({{"table", table}, {"operation", operation}});
    for (const char* table : {"win_hourly_product_views", "win_product_view_panes", "win_visits"})
        for (const char* policy : {"dropped", "dead-lettered", "corrected"}) late_records_.Add({{"table", table}, {"policy", policy}});
}

void PipelineProbe::kafka_errors(std::uint64_t errors, std::uint64_t authentication_failures) {
    raise_to(kafka_errors_, errors);
    raise_to(kafka_authentication_failures_, authentication_failures);
}

void PipelineProbe::cache_lookups(const std::string& pipeline, const std::string& cache, std::uint64_t hits, std::uint64_t misses) {
    raise_to(cache_lookups_.Add({{"pipeline", pipeline}, {"cache", cache}, {"result", "hit"}}), hits);
    raise_to(cache_lookups_.Add({{"pipeline", pipeline}, {"cache", cache}, {"result", "miss"}}), misses);
}

void PipelineProbe::late_records(const std::string& table, const std::array<std::uint64_t, 3>& by_policy) {
    static const char* const policies[] = {"dropped", "dead-lettered", "corrected"};
    for (int k = 0; k < 3; ++k)
        if (by_policy[k]) late_records_.Add({{"table", table}, {"policy", policies[k]}}).Increment(static_cast<double>(by_policy[k]));
}

void PipelineProbe::dead_lettered(std::string_view reason) { dead_letters_.Add({{"reason", reason_label(reason)}}).Increment(); }

void PipelineProbe::rows_written(const std::string& table, const std::string& operation, std::int64_t n) {
    rows_.Add({{"table", table}, {"operation", operation}}).Increment(static_cast<double>(n));
}

void PipelineProbe::phase(const std::string& name, double seconds) { phases_.Add({{"phase", name}}, kPhaseBuckets).Observe(seconds); }

void PipelineProbe::partition(const engine::TopicPartition& tp, double lag_records, double lag_seconds, double watermark, double watermark_age) {
    std::lock_guard lock(partitions_mutex_);
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) {
        const prometheus::Labels labels{{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}};
        it = partitions_.emplace(tp, PartitionGauges{&lag_records_.Add(labels), &lag_seconds_.Add(labels), &watermark_.Add(labels), &watermark_age_.Add(labels)}).first;
    }
    it->second.lag_records->Set(lag_records);
    it->second.lag_seconds->Set(lag_seconds);
    it->second.watermark->Set(watermark);
    it->second.watermark_age->Set(watermark_age);
}

void PipelineProbe::forget(const engine::TopicPartition& tp) {
    std::lock_guard lock(partitions_mutex_);
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) return;
    lag_records_.Remove(it->second.lag_records);
    lag_seconds_.Remove(it->second.lag_seconds);
    watermark_.Remove(it->second.watermark);
    watermark_age_.Remove(it->second.watermark_age);
    partitions_.erase(it);
}

std::string PipelineProbe::exposition() const {
    auto families = registry_->Collect();
    auto process = process_.Collect();
    families.insert(families.end(), process.begin(), process.end());
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    return out.str();
}

}  // namespace starstream::daemon::metrics
