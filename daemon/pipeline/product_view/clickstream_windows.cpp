#include "pipeline/product_view/clickstream_windows.h"

#include "pipeline/product_view/star_batch_builder.h"

#include <charconv>

namespace starstream::daemon::product_view {

namespace {

constexpr std::int64_t kMinute = 60'000'000, kHour = 60 * kMinute;

/// The hourly cell's key, "product:store:location", in one allocation (std::to_string and +
/// made five per product view).
std::string cell_key(const FactRow& f) {
    char buffer[3 * 21];
    char* end = buffer;
    for (std::int64_t part : {f.product_key, f.store_key, f.location_key}) {
        if (end != buffer) *end++ = ':';
        end = std::to_chars(end, buffer + sizeof buffer, part).ptr;
    }
    return std::string(buffer, end);
}

engine::WindowTableSpec table_spec(WindowedTable table, const WindowSettings& s) {
    engine::WindowTableSpec spec{{}, s.late_policy[table], s.allowed_lateness_us};
    switch (table) {
        case kHourlyProductViews: spec.window = {engine::WindowKind::tumbling, kHour, kHour, 0}; break;
        // Panes of the 1 h / 5 min hopping windows; the view trending_products sums them.
        case kProductViewPanes: spec.window = {engine::WindowKind::tumbling, 5 * kMinute, 5 * kMinute, 0}; break;
        default: spec.window = {engine::WindowKind::session, 0, 0, s.visit_gap_us}; break;
    }
    return spec;
}

}  // namespace

const char* windowed_table_name(WindowedTable table) {
    static const char* const names[] = {"win_hourly_product_views", "win_product_view_panes", "win_visits"};
    return names[table];
}

ClickstreamWindows::ClickstreamWindows(WindowSettings settings)
    : settings_(settings), view_product_detail_(surrogate_key("view_product_detail")), checkout_success_(surrogate_key("checkout_success")) {
    for (int t = 0; t < kWindowedTables; ++t) table_spec(WindowedTable(t), settings_).window.validate();
}

BatchWindows ClickstreamWindows::apply(const StarBatch& batch, const EventIdSet& committed, std::int64_t watermark_us) const {
    BatchWindows out{watermark_us, {}};
    for (int t = 0; t < kWindowedTables; ++t) out.tables.emplace_back(table_spec(WindowedTable(t), settings_), watermark_us);
    for (std::size_t i = 0; i < batch.facts.size(); ++i) {
        const FactRow& f = batch.facts[i];
        if (!committed.empty() && committed.count(f.event_id)) continue;
        const auto origin = static_cast<std::int64_t>(i);
        const bool product_view = f.collection_key == view_product_detail_ && f.has_product;
        std::string device(batch.view(f.device_id));
        if (product_view) {
            out.tables[kHourlyProductViews].add({cell_key(f), f.event_time_us, 1, device, {}, origin});
            out.tables[kProductViewPanes].add({std::to_string(f.product_key), f.event_time_us, 1, {}, {}, origin});
        }
        // Visits: value 1 marks a product view (sum = product views); the distinct set records
        // whether checkout_success was reached; the label is the page for first and last URL.
        out.tables[kVisits].add({std::move(device), f.event_time_us, product_view ? 1.0 : 0.0, f.collection_key == checkout_success_ ? "checkout_success" : "",
                                 std::string(batch.view(f.current_url)), origin});
    }
    return out;
}

}  // namespace starstream::daemon::product_view
