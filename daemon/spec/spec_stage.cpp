#include "spec/spec_stage.h"

namespace starstream::daemon::spec {

SpecStage::SpecStage(const PipelineSpec& spec, const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes)
    : spec_(spec),
      layout_(spec),
      enrichment_(enrichment),
      decoder_(spec, max_event_bytes),
      enrichers_(spec, layout_, enrichment_),
      time_field_(layout_.at(spec.event.time)) {}

engine::Decoded SpecStage::decode(std::string_view payload) {
    engine::Decoded decoded;
    decoded.reason = decoder_.decode(payload, record_);
    if (!decoded.ok()) return decoded;
    const auto* us = std::get_if<std::int64_t>(&record_.values[time_field_]);
    // A spec's event-time field is required to be a timestamp; an absent optional one has no time.
    if (!us) return {"missing field: " + spec_.event.time + " (the event time)", 0, {}};
    time_us_ = *us;
    decoded.event_time_us = *us;
    decoded.time_text = spec_.event.time + " " + std::to_string(*us) + " (Unix microseconds)";
    return decoded;
}

void SpecStage::append(engine::MicroBatch& batch, const engine::RecordOrigin& origin) {
    auto& spec_batch = static_cast<SpecBatch&>(batch);
    enrichers_.apply(record_.values, {spec_batch.topics[origin.topic_index], origin.partition, origin.offset});
    spec_batch.rows.push_back({std::move(record_.values), time_us_, origin.topic_index, origin.partition, origin.offset});
    spec_batch.min_event_time_us = std::min(spec_batch.min_event_time_us, time_us_);
    spec_batch.max_event_time_us = std::max(spec_batch.max_event_time_us, time_us_);
    record_.values.clear();
}

}  // namespace starstream::daemon::spec
