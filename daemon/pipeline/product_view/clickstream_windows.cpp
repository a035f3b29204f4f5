#include "pipeline/product_view/clickstream_windows.h"

#include "pipeline/product_view/star_batch_builder.h"
#include "window/window_state_codec.h"

namespace starstream::daemon::product_view {

namespace {

constexpr std::int64_t kMinute = 60'000'000, kHour = 60 * kMinute;

engine::WindowOperatorConfig operator_config(WindowedTable table, const WindowSettings& s) {
    engine::WindowOperatorConfig c;
    c.late = s.late_policy[table];
    c.retention_us = s.allowed_lateness_us;
    switch (table) {
        case kHourlyProductViews: c.spec = {engine::WindowKind::tumbling, kHour, kHour, 0}, c.mode = engine::OutputMode::update; break;
        // Panes of the 1 h / 5 min hopping windows; the view trending_products sums them.
        case kProductViewPanes: c.spec = {engine::WindowKind::tumbling, 5 * kMinute, 5 * kMinute, 0}, c.mode = engine::OutputMode::append; break;
        default: c.spec = {engine::WindowKind::session, 0, 0, s.visit_gap_us}, c.mode = engine::OutputMode::update; break;
    }
    return c;
}

std::array<std::uint64_t, 3> late_counters(const engine::WindowOperator& op) {
    const auto& s = op.snapshot();
    return {s.late_dropped, s.late_dead_lettered + s.too_late, s.late_corrected};  // too late to correct: written as late events
}

}  // namespace

const char* windowed_table_name(WindowedTable table) {
    static const char* const names[] = {"win_hourly_product_views", "win_product_view_panes", "win_visits"};
    return names[table];
}

ClickstreamWindows::ClickstreamWindows(WindowSettings settings)
    : settings_(settings), view_product_detail_(surrogate_key("view_product_detail")), checkout_success_(surrogate_key("checkout_success")) {
    for (int t = 0; t < kWindowedTables; ++t) engine::WindowOperator check(operator_config(WindowedTable(t), settings_));  // validates
}

ClickstreamWindows::Owned& ClickstreamWindows::owned(const TopicPartition& tp, std::int64_t epoch, const StateLoader& load) {
    auto it = partitions_.find(tp);
    if (it != partitions_.end() && it->second.epoch == epoch) return it->second;
    // New to this instance, or claimed again since (another owner may have moved it on): what
    // Postgres committed is the truth.
    Owned fresh{epoch, {}};
    for (int t = 0; t < kWindowedTables; ++t) {
        fresh.operators.emplace_back(operator_config(WindowedTable(t), settings_));
        if (auto state = load(tp, windowed_table_name(WindowedTable(t)))) fresh.operators.back().restore(engine::decode_state(*state));
    }
    return partitions_.insert_or_assign(tp, std::move(fresh)).first->second;
}

void ClickstreamWindows::feed(Owned& p, const StarBatch& batch, const FactRow& f) {
    // A record is late against the operator watermark at its arrival (consume time).
    if (f.watermark_us != INT64_MIN)
        for (auto& op : p.operators) op.advance_watermark(f.watermark_us);
    const bool product_view = f.collection_key == view_product_detail_ && f.has_product;
    const std::string device(batch.view(f.device_id));
    if (product_view) {
        p.operators[kHourlyProductViews].process({std::to_string(f.product_key) + ':' + std::to_string(f.store_key) + ':' + std::to_string(f.location_key),
                                                  f.event_time_us, 1, device, {}, f.offset});
        p.operators[kProductViewPanes].process({std::to_string(f.product_key), f.event_time_us, 1, {}, {}, f.offset});
    }
    // Visits: value 1 marks a product view (sum = product views); the distinct set records
    // whether checkout_success was reached; the label is the page for first and last URL.
    p.operators[kVisits].process({device, f.event_time_us, product_view ? 1.0 : 0.0, f.collection_key == checkout_success_ ? "checkout_success" : "",
                                  std::string(batch.view(f.current_url)), f.offset});
}

std::vector<PartitionWindows> ClickstreamWindows::apply(const StarBatch& batch, const EventIdSet& committed, const StateLoader& load) {
    // Partitions this instance no longer owns leave memory.
    std::erase_if(partitions_, [&](const auto& kv) { return !batch.checkpoint.count(kv.first); });
    std::map<TopicPartition, Owned*> touched;
    std::map<TopicPartition, std::array<std::array<std::uint64_t, 3>, kWindowedTables>> late_before;
    for (const auto& [tp, position] : batch.checkpoint) {
        Owned& p = owned(tp, position.epoch, load);
        touched[tp] = &p;
        for (int t = 0; t < kWindowedTables; ++t) late_before[tp][t] = late_counters(p.operators[t]);
    }
    for (const FactRow& f : batch.facts) {
        if (!committed.empty() && committed.count(f.event_id)) continue;
        auto it = touched.find({batch.topics[f.topic_index], f.partition});
        if (it != touched.end()) feed(*it->second, batch, f);
    }
    std::vector<PartitionWindows> out;
    for (auto& [tp, p] : touched) {
        PartitionWindows result{tp, {}, {}, {}, {}};
        bool changed = batch.partition_records.count(tp) > 0;
        for (int t = 0; t < kWindowedTables; ++t) {
            auto& op = p->operators[t];
            if (batch.operator_watermark_us != INT64_MIN) op.advance_watermark(batch.operator_watermark_us);
            result.rows[t] = op.emit();
            result.late[t] = op.take_late();
            const auto after = late_counters(op);
            for (int k = 0; k < 3; ++k) result.late_counts[t][k] = after[k] - late_before[tp][t][k];
            changed = changed || !result.rows[t].empty();
        }
        if (!changed) continue;
        for (int t = 0; t < kWindowedTables; ++t) result.state[t] = engine::encode_state(p->operators[t].snapshot());
        out.push_back(std::move(result));
    }
    return out;
}

}  // namespace starstream::daemon::product_view
