#include "window/window_spec.h"

namespace starstream::engine {

void WindowSpec::validate() const {
    switch (kind) {
        case WindowKind::tumbling:
            if (size_us <= 0) throw std::invalid_argument("tumbling window: size must be positive");
            break;
        case WindowKind::hopping:
        case WindowKind::cumulative:
            if (size_us <= 0 || slide_us <= 0) throw std::invalid_argument("window size and slide/step must be positive");
            if (size_us % slide_us != 0) throw std::invalid_argument("window size must be a multiple of its slide/step");
            // Each record is aggregated into size/slide windows: a hopping 100-day window sliding
            // by the millisecond would be 8.6e9 of them per record.
            if (size_us / slide_us > kMaxWindowsPerRecord)
                throw std::invalid_argument("a record would belong to " + std::to_string(size_us / slide_us) + " windows (size / slide); at most " +
                                            std::to_string(kMaxWindowsPerRecord));
            break;
        case WindowKind::session:
            if (gap_us <= 0) throw std::invalid_argument("session window: gap must be positive");
            break;
    }
}

std::vector<Window> assign_windows(const WindowSpec& spec, std::int64_t t) {
    std::vector<Window> windows;
    switch (spec.kind) {
        case WindowKind::tumbling: {
            const std::int64_t start = floor_div(t, spec.size_us) * spec.size_us;
            windows.push_back({start, start + spec.size_us});
            break;
        }
        case WindowKind::hopping: {
            // Starts s = k * slide with s <= t < s + size.
            const std::int64_t last = floor_div(t, spec.slide_us) * spec.slide_us;
            for (std::int64_t start = last - spec.size_us + spec.slide_us; start <= last; start += spec.slide_us)
                windows.push_back({start, start + spec.size_us});
            break;
        }
        case WindowKind::cumulative: {
            const std::int64_t start = floor_div(t, spec.size_us) * spec.size_us;
            const std::int64_t first_end = (floor_div(t - start, spec.slide_us) + 1) * spec.slide_us + start;
            for (std::int64_t end = first_end; end <= start + spec.size_us; end += spec.slide_us) windows.push_back({start, end});
            break;
        }
        case WindowKind::session:
            throw std::logic_error("session windows are assigned by the operator");
    }
    return windows;
}

}  // namespace starstream::engine
