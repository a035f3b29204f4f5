#include "spec/spec_stage.h"

#include <algorithm>
#include <map>
#include <string>

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

/// Per value of the layout: whether a batch repeats it row after row, so that its text is kept
/// once per batch (TextArena::intern). A dimension's key and attributes name a member, which many
/// records share; an enricher's output is a function of such a value (the user agent's browser,
/// an address' country, the calendar). The rest (event ids, URLs, device ids) are mostly distinct
/// and are stored per record, without a lookup.
std::vector<bool> repeated_values(const PipelineSpec& spec, const ReferenceLayout& layout) {
    std::vector<bool> repeated(layout.size(), false);
    for (std::size_t i = spec.fields.size(); i < layout.size(); ++i) repeated[i] = true;  // the enrichers' outputs follow the fields
    for (const auto& d : spec.dimensions) {
        for (const auto& c : d.key) repeated[layout.at(c.ref)] = true;
        for (const auto& c : d.attributes) repeated[layout.at(c.ref)] = true;
    }
    return repeated;
}

/// Per value of the layout: the first earlier field that reads the same JSON pointer (a single
/// source), whose text this one often equals (current_url, visit_url, product_page), or npos.
std::vector<std::size_t> same_pointer(const PipelineSpec& spec, std::size_t layout_size) {
    std::vector<std::size_t> earlier(layout_size, std::string::npos);
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < spec.fields.size(); ++i) {
        const FieldSpec& f = spec.fields[i];
        if (!f.sources.empty() || !f.hash_of.empty()) continue;
        if (const auto [at, added] = first.emplace(f.pointer, i); !added) earlier[i] = at->second;
    }
    return earlier;
}

}  // namespace

SpecStage::SpecStage(const PipelineSpec& spec, const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes,
                     metrics::PipelineProbe* probe)
    : spec_(spec),
      probe_(probe),
      layout_(spec),
      enrichment_(enrichment),
      decoder_(spec, max_event_bytes),
      enrichers_(spec, layout_, enrichment_),
      member_keys_(spec, layout_),
      filters_(spec, layout_),
      time_field_(layout_.at(spec.event.time)),
      time_encoding_(expected_encoding(spec.fields[time_field_].timestamp)),
      repeated_(repeated_values(spec, layout_)),
      same_pointer_(same_pointer(spec, layout_.size())),
      intern_counts_(layout_.size()) {
    for (FoldedWindow& w : folded_windows(spec, layout_, filters_)) folded_windows_.push_back(std::make_shared<const FoldedWindow>(std::move(w)));
    for (FoldedSession& s : folded_sessions(spec, layout_, filters_)) folded_sessions_.push_back(std::make_shared<const FoldedSession>(std::move(s)));
    publish();  // the counters' series start at 0, for rate() and the dashboard
}

void SpecStage::publish() {
    if (!probe_) return;
    probe_->cache_lookups(spec_.name, "user_agent", enrichment_.user_agent_cache.hits, enrichment_.user_agent_cache.misses);
    probe_->cache_lookups(spec_.name, "domain", enrichment_.domain_cache.hits, enrichment_.domain_cache.misses);
}

std::unique_ptr<engine::MicroBatch> SpecStage::new_batch() {
    auto batch = std::make_unique<SpecBatch>();
    for (const auto& w : folded_windows_) batch->window_folds.emplace_back(w, 0);
    for (const auto& s : folded_sessions_) batch->session_folds.emplace_back(s, 0);
    return batch;
}

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
    if (spec_batch.rows.empty()) std::fill(intern_counts_.begin(), intern_counts_.end(), InternCount{});  // a new batch
    enrichers_.apply(record_.values, {spec_batch.topics[origin.topic_index], origin.partition, origin.offset}, record_.text);
    keep_text(spec_batch.arena);
    SpecRow& row = spec_batch.rows.emplace_back();
    member_keys_.fill(record_.values, row.member_keys);
    row.passed_filters = filters_.evaluate(record_.values);
    row.values = std::move(record_.values);
    row.event_time_us = time_us_, row.topic_index = origin.topic_index, row.partition = origin.partition, row.offset = origin.offset;
    for (WindowFold& fold : spec_batch.window_folds) fold.add(spec_batch.rows, row.member_keys, filters_);
    for (SessionFold& fold : spec_batch.session_folds) fold.add(spec_batch.rows, row.member_keys, filters_);
    spec_batch.min_event_time_us = std::min(spec_batch.min_event_time_us, time_us_);
    spec_batch.max_event_time_us = std::max(spec_batch.max_event_time_us, time_us_);
    record_.values.clear();
    record_.values.reserve(layout_.size());  // moved out above: one allocation per record, not one per growth
}

void SpecStage::seal(engine::MicroBatch& batch) {
    auto& spec_batch = static_cast<SpecBatch&>(batch);
    for (WindowFold& fold : spec_batch.window_folds) fold.seal();
    for (SessionFold& fold : spec_batch.session_folds) fold.seal();
}

void SpecStage::keep_text(TextArena& batch_arena) {
    for (std::size_t i = 0; i < record_.values.size(); ++i) {
        auto* text = std::get_if<Text>(&record_.values[i]);
        if (!text) continue;
        InternCount& count = intern_counts_[i];
        // A repeated value stops being interned in a batch once most of its values are new (a
        // dimension keyed by a per-event id): its set entries would cost more than the copies.
        if (repeated_[i] && (count.lookups < kInternTrial || 2 * count.added <= count.lookups)) {
            const std::size_t before = batch_arena.interned();
            *text = batch_arena.intern(text->view());
            ++count.lookups, count.added += batch_arena.interned() > before;
            continue;
        }
        // A field reading the pointer of an earlier one shares its copy when their text is equal
        // (the earlier one's value is in the batch's arena already).
        if (const std::size_t j = same_pointer_[i]; j != std::string::npos)
            if (const auto* kept = std::get_if<Text>(&record_.values[j]); kept && *kept == *text) {
                *text = *kept;
                continue;
            }
        *text = batch_arena.store(text->view());
    }
}

}  // namespace starstream::daemon::spec
