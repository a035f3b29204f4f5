// The windowed aggregate of one micro-batch: its records pre-aggregated per window and key into
// partial aggregates that a sink merges into a shared table (counts and sums add, min/max and
// first/last compare, distinct values union, sessions merge by overlap: session_merge.h). The
// table is the state; nothing is kept here between batches, so results do not depend on batch
// boundaries, on how records are spread over partitions and instances, or on restarts.
//
// Lateness is judged per record against the window watermark the caller passes in (the one
// watermark of the topic, shared by every instance): a record is late when its event time is
// below it. Per table, a late policy:
//   drop        counted (late_dropped), not aggregated;
//   dead_letter returned by take_late() with its lateness and target window, not aggregated;
//   correct     aggregated anyway, unless its last window ended `allowed_lateness_us` or more
//               before the watermark (too late: then returned by take_late() as a dead letter).
//               A session's window here is the record's own [t, t + gap): a correction admitted
//               by it may still join a stored session that ended earlier.
// Windows are final when the watermark passes their end: a property of the stored row and the
// watermark (a view), never a flag written here.
// Thread rules: one thread per object.
#pragma once

#include "window/aggregate_state.h"
#include "window/session_merge.h"
#include "window/window_spec.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace starstream::engine {

enum class LatePolicy { drop, dead_letter, correct };

/// A windowed table's window spec and how it treats late records.
struct WindowTableSpec {
    WindowSpec window;
    LatePolicy late = LatePolicy::drop;
    std::int64_t allowed_lateness_us = 0;  ///< correct policy: how long past its end a window still takes records
};

/// One input record: a key (e.g. a product id), its event time, a value to sum/min/max, a value
/// to count distinctly (e.g. a device id) and a label for first/last (e.g. a URL).
struct WindowInput {
    std::string key;
    std::int64_t time_us = 0;
    double value = 1;
    std::string distinct;
    std::string label;
    std::int64_t origin = 0;  ///< the caller's reference (e.g. the record's index), returned with late records
};

struct LateRecord {
    WindowInput input;
    std::int64_t lateness_us = 0;  ///< watermark minus event time
    Window target;                 ///< the (first) window it belonged to
    std::int64_t watermark_us = 0;
};

/// What a table's late policy does with one record (see the file comment).
enum class LateVerdict { on_time, dropped, dead_lettered, corrected };

/// The verdict for a record at `time_us` against `watermark_us` (INT64_MIN: nothing is late).
/// Pure; any thread.
LateVerdict judge_lateness(const WindowTableSpec& spec, std::int64_t time_us, std::int64_t watermark_us);

/// The (first) window a record at `time_us` belongs to: a session's is [t, t + gap).
Window first_window(const WindowSpec& spec, std::int64_t time_us);

/// Late records of a batch by policy outcome.
struct LateCounts {
    std::uint64_t dropped = 0, dead_lettered = 0, corrected = 0;  ///< dead_lettered includes too-late corrections
};

/// Hash of a (key, window) cell.
struct CellHash {
    std::size_t operator()(const std::pair<std::string, Window>& cell) const noexcept {
        std::size_t h = std::hash<std::string>{}(cell.first);
        for (std::int64_t v : {cell.second.start_us, cell.second.end_us}) h = (h ^ std::hash<std::int64_t>{}(v)) * 0x100000001b3ULL;
        return h;
    }
};

class WindowPartials {
public:
    /// Unordered: a sink merges cells in any order (the merge is commutative).
    using Cells = std::unordered_map<std::pair<std::string, Window>, AggregateState, CellHash>;

    /// `watermark_us`: the window watermark lateness is judged against (kNoWatermark-like
    /// INT64_MIN: nothing is late). Throws std::invalid_argument on an invalid window spec.
    WindowPartials(WindowTableSpec spec, std::int64_t watermark_us);

    /// Classifies one record and, unless late and not corrected, aggregates it. Taken by value:
    /// a caller that passes a temporary has its key, distinct value and label moved, not copied.
    void add(WindowInput input);

    /// Tumbling, hopping, cumulative: the partial aggregate per (key, window).
    const Cells& cells() const { return cells_; }
    /// Session windows: per key, this batch's sessions merged among themselves, sorted by start
    /// (merge them with the stored sessions of the key with merge_sessions), their aggregates
    /// built here once per session. Takes them: a second call returns nothing.
    std::unordered_map<std::string, std::vector<Session>> take_sessions();
    const std::vector<LateRecord>& late() const { return late_; }
    const LateCounts& late_counts() const { return counts_; }
    const WindowTableSpec& spec() const { return spec_; }

private:
    /// One record of a session window, kept as it came: sessions and their aggregates are built
    /// once per key in take_sessions (a full aggregate per record was most of the sink's window CPU).
    struct SessionEvent {
        std::int64_t time_us;
        double value;
        std::string distinct, label;
    };

    /// Whether `input` is aggregated; records the late ones.
    bool admit(const WindowInput& input);

    WindowTableSpec spec_;
    std::int64_t watermark_us_;
    Cells cells_;
    std::unordered_map<std::string, std::vector<SessionEvent>> session_events_;  ///< per key, its admitted records
    std::vector<LateRecord> late_;
    LateCounts counts_;
};

}  // namespace starstream::engine
