#include "window/window_operator.h"

#include <algorithm>

namespace starstream::engine {

WindowOperator::WindowOperator(WindowOperatorConfig config) : config_(std::move(config)) { config_.spec.validate(); }

std::vector<Window> WindowOperator::target_windows(const WindowInput& input) const {
    if (config_.spec.kind == WindowKind::session) return {{input.time_us, input.time_us + config_.spec.gap_us}};
    return assign_windows(config_.spec, input.time_us);
}

void WindowOperator::process(const WindowInput& input) {
    const bool late = input.time_us < state_.watermark_us;
    if (late) {
        const auto targets = target_windows(input);
        switch (config_.late) {
            case LatePolicy::drop:
                ++state_.late_dropped;
                return;
            case LatePolicy::dead_letter:
                ++state_.late_dead_lettered;
                late_.push_back({input, state_.watermark_us - input.time_us, targets.front(), state_.watermark_us});
                return;
            case LatePolicy::correct:
                // Beyond retention the window is gone: correcting it would emit a partial row.
                if (targets.back().end_us + config_.retention_us <= state_.watermark_us) {
                    ++state_.too_late;
                    late_.push_back({input, state_.watermark_us - input.time_us, targets.front(), state_.watermark_us});
                    return;
                }
                ++state_.late_corrected;
                break;
        }
    }
    if (config_.spec.kind == WindowKind::session) {
        add_to_session(input);
        return;
    }
    for (const Window& w : target_windows(input)) {
        WindowState& s = state_.windows[{input.key, w}];
        s.aggregates.add(input.time_us, input.value, input.distinct, input.label);
        s.changed = true;
    }
}

void WindowOperator::add_to_session(const WindowInput& input) {
    Window merged{input.time_us, input.time_us + config_.spec.gap_us};
    const std::size_t retractions_before = state_.retractions.size();
    WindowState combined;
    combined.aggregates.add(input.time_us, input.value, input.distinct, input.label);
    combined.changed = true;
    // Sessions of this key that intersect the new one merge into it (repeat: the merged
    // session may now reach further sessions).
    for (bool grew = true; grew;) {
        grew = false;
        auto it = state_.windows.lower_bound({input.key, Window{INT64_MIN, INT64_MIN}});
        for (; it != state_.windows.end() && it->first.first == input.key; ++it) {
            const Window& w = it->first.second;
            if (w.start_us < merged.end_us && merged.start_us < w.end_us && w != merged) break;
        }
        if (it == state_.windows.end() || it->first.first != input.key) {
            // No other intersecting session; fold into an identical window if present.
            auto same = state_.windows.find({input.key, merged});
            if (same != state_.windows.end()) {
                combined.aggregates.merge(same->second.aggregates);
                combined.revision = same->second.revision;
                combined.is_final = same->second.is_final;
                state_.windows.erase(same);
            }
            break;
        }
        const Window w = it->first.second;
        combined.aggregates.merge(it->second.aggregates);
        if (it->second.revision > 0) state_.retractions.push_back({input.key, w, it->second.aggregates, it->second.is_final, true, it->second.revision});
        state_.windows.erase(it);
        merged = {std::min(merged.start_us, w.start_us), std::max(merged.end_us, w.end_us)};
        grew = true;
    }
    // A session that absorbed others but kept its bounds is the same row: no retraction, and its
    // revisions go on counting.
    for (auto it = state_.retractions.begin() + static_cast<std::ptrdiff_t>(retractions_before); it != state_.retractions.end(); ++it) {
        if (it->window != merged) continue;
        combined.revision = std::max(combined.revision, it->revision);
        state_.retractions.erase(it);
        break;
    }
    combined.is_final = false;  // it grew: final again only when the watermark passes its new end
    state_.windows[{input.key, merged}] = std::move(combined);
}

void WindowOperator::advance_watermark(std::int64_t watermark_us) {
    // O(1): callers advance per record (the watermark at each record's arrival); finalising and
    // forgetting windows happen in emit(), which visits every window anyway.
    state_.watermark_us = std::max(state_.watermark_us, watermark_us);
}

void WindowOperator::forget_expired() {
    for (auto it = state_.windows.begin(); it != state_.windows.end();) {
        const Window& w = it->first.second;
        if (w.end_us + config_.retention_us <= state_.watermark_us && it->second.is_final && !it->second.changed) {
            it = state_.windows.erase(it);  // past retention: nothing can correct it any more
            continue;
        }
        ++it;
    }
}

std::vector<WindowRow> WindowOperator::emit() {
    std::vector<WindowRow> rows = std::exchange(state_.retractions, {});
    for (auto& [id, s] : state_.windows) {
        const bool closed = id.second.end_us <= state_.watermark_us;
        bool emit_now = false;
        if (closed && !s.is_final) {
            s.is_final = true;
            emit_now = true;
        } else if (s.changed && (config_.mode == OutputMode::update || s.is_final)) {
            emit_now = true;  // update mode: every change; append mode: corrections of final windows
        }
        if (!emit_now) continue;
        s.changed = false;
        ++s.revision;
        rows.push_back({id.first, id.second, s.aggregates, s.is_final, false, s.revision});
    }
    forget_expired();
    return rows;
}

}  // namespace starstream::engine
