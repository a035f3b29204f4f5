#include "window/window_partials.h"

#include <algorithm>

namespace starstream::engine {

WindowPartials::WindowPartials(WindowTableSpec spec, std::int64_t watermark_us) : spec_(std::move(spec)), watermark_us_(watermark_us) {
    spec_.window.validate();
}

Window first_window(const WindowSpec& spec, std::int64_t time_us) {
    if (spec.kind == WindowKind::session) return {time_us, time_us + spec.gap_us};
    return assign_windows(spec, time_us).front();
}

namespace {

std::int64_t last_window_end(const WindowSpec& spec, std::int64_t time_us) {
    if (spec.kind == WindowKind::session) return time_us + spec.gap_us;
    std::int64_t end = INT64_MIN;
    for (const Window& w : assign_windows(spec, time_us)) end = std::max(end, w.end_us);
    return end;
}

}  // namespace

LateVerdict judge_lateness(const WindowTableSpec& spec, std::int64_t time_us, std::int64_t watermark_us) {
    if (time_us >= watermark_us) return LateVerdict::on_time;
    switch (spec.late) {
        case LatePolicy::drop:
            return LateVerdict::dropped;
        case LatePolicy::dead_letter:
            return LateVerdict::dead_lettered;
        case LatePolicy::correct:
            // Past allowed lateness a window no longer changes: its readers may have taken it as final.
            if (last_window_end(spec.window, time_us) + spec.allowed_lateness_us <= watermark_us) return LateVerdict::dead_lettered;
            return LateVerdict::corrected;
    }
    return LateVerdict::dropped;
}

bool WindowPartials::admit(const WindowInput& input) {
    switch (judge_lateness(spec_, input.time_us, watermark_us_)) {
        case LateVerdict::on_time:
            return true;
        case LateVerdict::dropped:
            ++counts_.dropped;
            return false;
        case LateVerdict::dead_lettered:
            ++counts_.dead_lettered;
            late_.push_back({input, watermark_us_ - input.time_us, first_window(spec_.window, input.time_us), watermark_us_});
            return false;
        case LateVerdict::corrected:
            ++counts_.corrected;
            return true;
    }
    return false;
}

void WindowPartials::add(WindowInput input) {
    if (!admit(input)) return;
    if (spec_.window.kind == WindowKind::session) {
        session_events_[std::move(input.key)].push_back({input.time_us, input.value, std::move(input.distinct), std::move(input.label)});
        return;
    }
    if (spec_.window.kind == WindowKind::tumbling) {  // one window: no assignment list to allocate per record
        const std::int64_t start = floor_div(input.time_us, spec_.window.size_us) * spec_.window.size_us;
        cells_[{std::move(input.key), {start, start + spec_.window.size_us}}].add(input.time_us, input.value, input.distinct, input.label);
        return;
    }
    for (const Window& w : assign_windows(spec_.window, input.time_us))
        cells_[{input.key, w}].add(input.time_us, input.value, input.distinct, input.label);
}

std::unordered_map<std::string, std::vector<Session>> WindowPartials::take_sessions() {
    const std::int64_t gap = spec_.window.gap_us;
    std::unordered_map<std::string, std::vector<Session>> out;
    out.reserve(session_events_.size());
    for (auto& [key, events] : session_events_) {
        // What merge_sessions makes of one single-event session per record, without building
        // them: in time order, a record at or past the open session's last event + gap opens
        // the next one (the aggregates do not depend on the order of equal times).
        std::sort(events.begin(), events.end(), [](const SessionEvent& a, const SessionEvent& b) { return a.time_us < b.time_us; });
        std::vector<Session> sessions;
        for (const SessionEvent& e : events) {
            if (sessions.empty() || e.time_us >= sessions.back().last_us + gap) sessions.push_back({e.time_us, e.time_us, {}});
            sessions.back().last_us = e.time_us;
            sessions.back().aggregates.add(e.time_us, e.value, e.distinct, e.label);
        }
        out.emplace(key, std::move(sessions));
    }
    session_events_.clear();
    return out;
}

}  // namespace starstream::engine
