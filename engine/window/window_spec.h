// Window assigners: which windows an event time belongs to. Windows are half-open
// [start_us, end_us) in event-time microseconds, aligned to the Unix epoch.
//   tumbling   size                 one window per event
//   hopping    size, slide          size/slide overlapping windows per event
//   cumulative size (e.g. a day), step (e.g. an hour): windows [day, day + k*step) for every
//              k whose window contains the event: a day's running total, emitted every hour
//   session    gap                  per key; assigned by the operator (windows merge)
// Pure functions; any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace starstream::engine {

struct Window {
    std::int64_t start_us = 0, end_us = 0;
    auto operator<=>(const Window&) const = default;
};

enum class WindowKind { tumbling, hopping, cumulative, session };

struct WindowSpec {
    WindowKind kind = WindowKind::tumbling;
    std::int64_t size_us = 0;   ///< tumbling, hopping, cumulative
    std::int64_t slide_us = 0;  ///< hopping: slide; cumulative: step
    std::int64_t gap_us = 0;    ///< session

    /// Throws std::invalid_argument when a size is not positive, does not divide as required, or
    /// puts a record into more than kMaxWindowsPerRecord windows.
    void validate() const;
    static constexpr std::int64_t kMaxWindowsPerRecord = 1000;
};

/// Floor division that rounds towards minus infinity (event times may precede 1970).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/// The windows of a non-session spec that contain `t_us`, in increasing start (then end) order.
std::vector<Window> assign_windows(const WindowSpec& spec, std::int64_t t_us);

}  // namespace starstream::engine
