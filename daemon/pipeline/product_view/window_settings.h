// Configuration of the clickstream's windowed tables (keys windows.*; see
// config/starstreamd.conf.example and ClickstreamWindows).
#pragma once

#include "window/window_partials.h"

#include <array>
#include <cstdint>

namespace starstream::daemon::product_view {

enum WindowedTable { kHourlyProductViews, kProductViewPanes, kVisits, kWindowedTables };

struct WindowSettings {
    bool enabled = true;
    /// Late-record policy per windowed table (engine::LatePolicy).
    std::array<engine::LatePolicy, kWindowedTables> late_policy{engine::LatePolicy::correct, engine::LatePolicy::dead_letter,
                                                                engine::LatePolicy::correct};
    std::int64_t allowed_lateness_us = 3600'000'000;    ///< how long final windows stay correctable
    std::int64_t visit_gap_us = 1800'000'000;           ///< session gap of a visit, 30 min
    std::int64_t watermark_batch_step_us = 60'000'000;  ///< a quiet topic gets a batch when the watermark moved this much
};

}  // namespace starstream::daemon::product_view
