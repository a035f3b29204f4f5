// The clickstream's windowed aggregates, on the engine's WindowPartials:
//   hourly_product_views  tumbling 1 h: product detail views and exact distinct visitors per
//                         product, store and visitor country;
//   product_view_panes    tumbling 5 min: product detail views per product, the panes of the
//                         trending products' hopping windows (1 h every 5 min; the view
//                         trending_products sums 12 panes per window);
//   visits                session windows per device (gap windows.visit_gap_ms): events,
//                         product views, first and last URL, whether checkout_success was reached.
// Each batch's new facts (not committed by an earlier batch) are pre-aggregated here, every one
// judged late or not against the window watermark of the topic; the sink merges the partials
// into the shared tables. Nothing is kept between batches.
// Thread rules: one thread (the sink thread).
#pragma once

#include "pipeline/product_view/star_batch.h"
#include "pipeline/product_view/window_settings.h"
#include "window/window_partials.h"

#include <array>
#include <string>
#include <unordered_set>
#include <vector>

namespace starstream::daemon::product_view {

/// The windowed table's name, also its operator name in starstream.late_event.
const char* windowed_table_name(WindowedTable table);

/// What one batch adds to the windowed tables. Late records' `origin` is their index in
/// StarBatch::facts.
struct BatchWindows {
    std::int64_t watermark_us = INT64_MIN;  ///< the window watermark lateness was judged against
    std::vector<engine::WindowPartials> tables;  ///< indexed by WindowedTable
};

class ClickstreamWindows {
public:
    using EventIdSet = std::unordered_set<EventId, EventIdHash>;

    /// Throws std::invalid_argument on invalid settings.
    explicit ClickstreamWindows(WindowSettings settings);

    /// Pre-aggregates the facts of `batch` whose id is not in `committed` (those were counted by
    /// an earlier batch), judged against `watermark_us` (Unix microseconds; INT64_MIN: none yet,
    /// nothing is late).
    BatchWindows apply(const StarBatch& batch, const EventIdSet& committed, std::int64_t watermark_us) const;

    const WindowSettings& settings() const { return settings_; }

private:
    WindowSettings settings_;
    std::int64_t view_product_detail_ = 0, checkout_success_ = 0;  ///< collection surrogate keys
};

}  // namespace starstream::daemon::product_view
