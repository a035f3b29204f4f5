#include "spec/spec_stage.h"

namespace starstream::daemon::spec {

namespace {

/// How the event time is meant to be read, for messages: "Unix seconds expected" (a millisecond
/// time read as seconds is the usual implausible one, DESIGN.md invariant 9).
std::string expected_encoding(const TimestampEncoding& encoding) {
    switch (encoding.kind) {
        case TimestampEncoding::Kind::epoch_s: return "Unix seconds expected";
        case TimestampEncoding::Kind::epoch_ms: return "Unix milliseconds expected";
        case TimestampEncoding::Kind::epoch_us: return "Unix microseconds expected";
        case TimestampEncoding::Kind::iso8601: return "ISO 8601 expected";
        case TimestampEncoding::Kind::format: return "'" + encoding.format + "' expected";
    }
    return "";
}

}  // namespace

SpecStage::SpecStage(const PipelineSpec& spec, const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes)
    : spec_(spec),
      layout_(spec),
      enrichment_(enrichment),
      decoder_(spec, max_event_bytes),
      enrichers_(spec, layout_, enrichment_),
      member_keys_(spec, layout_),
      time_field_(layout_.at(spec.event.time)),
      time_encoding_(expected_encoding(spec.fields[time_field_].timestamp)) {}

engine::Decoded SpecStage::decode(std::string_view payload) {
    engine::Decoded decoded;
    decoded.reason = decoder_.decode(payload, record_);
    if (!decoded.ok()) return decoded;
    const auto* us = std::get_if<std::int64_t>(&record_.values[time_field_]);
    // A spec's event-time field is required to be a timestamp; an absent optional one has no time.
    if (!us) return {"missing field: " + spec_.event.time + " (the event time)", 0, {}};
    time_us_ = *us;
    decoded.event_time_us = *us;
    // Saturated beyond the years 1-9999 (record_decoder.h): the driver's bounds refuse it.
    decoded.time_text = spec_.event.time + " " + record_.event_time_text + " (" + time_encoding_ + ")";
    return decoded;
}

void SpecStage::append(engine::MicroBatch& batch, const engine::RecordOrigin& origin) {
    auto& spec_batch = static_cast<SpecBatch&>(batch);
    for (auto& v : record_.values)
        if (auto* text = std::get_if<Text>(&v)) *text = spec_batch.text(text->view());  // out of the record's scratch arena
    enrichers_.apply(record_.values, {spec_batch.topics[origin.topic_index], origin.partition, origin.offset}, spec_batch.arena);
    SpecRow& row = spec_batch.rows.emplace_back();
    member_keys_.fill(record_.values, row.member_keys);
    row.values = std::move(record_.values);
    row.event_time_us = time_us_, row.topic_index = origin.topic_index, row.partition = origin.partition, row.offset = origin.offset;
    spec_batch.min_event_time_us = std::min(spec_batch.min_event_time_us, time_us_);
    spec_batch.max_event_time_us = std::max(spec_batch.max_event_time_us, time_us_);
    record_.values.clear();
    record_.values.reserve(layout_.size());  // moved out above: one allocation per record, not one per growth
}

}  // namespace starstream::daemon::spec
