// A keyed window operator: assigns records to windows, aggregates them, and emits window rows
// as the watermark moves, in one of two output modes, with a policy for late records.
//
//   update mode: each emit() returns the windows that changed since the last one
//                (is_final = false), and each window once more with is_final = true when the
//                watermark passes its end;
//   append mode: a window is returned once, final, when the watermark passes its end.
//   Every returned row carries a revision (1, 2, ...) counting its emissions.
//
// A record is late when its event time is below the operator watermark at arrival.
//   drop        counted, not aggregated;
//   dead_letter returned by take_late() with its lateness, target window and the watermark;
//   correct     aggregated anyway; a window already final is emitted again (revision + 1).
// Final windows are kept `retention_us` past their end for corrections, then forgotten.
// Session windows merge when a record bridges two sessions of a key; the rows of sessions
// that disappeared in a merge are returned with `retracted = true` so a sink can delete them.
//
// State is a value (State): snapshot() and restore() let the owner checkpoint it with the
// offsets and rebuild it after a restart, so a restart emits what an uninterrupted run emits.
// Thread rules: one thread.
#pragma once

#include "window/aggregate_state.h"
#include "window/window_spec.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace starstream::engine {

enum class OutputMode { update, append };
enum class LatePolicy { drop, dead_letter, correct };

struct WindowOperatorConfig {
    WindowSpec spec;
    OutputMode mode = OutputMode::update;
    LatePolicy late = LatePolicy::drop;
    std::int64_t retention_us = 0;  ///< how long a final window stays correctable
};

/// One input record: a key (e.g. a product id), its event time, a value to sum/min/max, a
/// value to count distinctly (e.g. a device id) and a label for first/last (e.g. a URL).
struct WindowInput {
    std::string key;
    std::int64_t time_us = 0;
    double value = 1;
    std::string distinct;
    std::string label;
    std::int64_t origin = 0;  ///< the caller's reference (e.g. a Kafka offset), returned with late records
};

struct WindowRow {
    std::string key;
    Window window;
    AggregateState aggregates;
    bool is_final = false;
    bool retracted = false;  ///< a session that merged into another: delete it downstream
    std::uint32_t revision = 0;
};

struct LateRecord {
    WindowInput input;
    std::int64_t lateness_us = 0;  ///< watermark minus event time
    Window target;                 ///< the (first) window it belonged to
    std::int64_t watermark_us = 0;
};

class WindowOperator {
public:
    struct WindowState {
        AggregateState aggregates;
        std::uint32_t revision = 0;  ///< emissions so far
        bool is_final = false;
        bool changed = false;        ///< since the last emission
    };
    /// Everything a restart needs: open and retained windows, counters, pending emissions.
    struct State {
        std::map<std::pair<std::string, Window>, WindowState> windows;
        std::vector<WindowRow> retractions;
        std::int64_t watermark_us = INT64_MIN;
        std::uint64_t late_dropped = 0, late_dead_lettered = 0, late_corrected = 0, too_late = 0;
    };

    /// Throws std::invalid_argument on an invalid window spec.
    explicit WindowOperator(WindowOperatorConfig config);

    /// Adds one record, classified against the current watermark.
    void process(const WindowInput& input);
    /// Moves the watermark (it never goes back; O(1)). Windows whose end it passed are
    /// finalised by the next emit().
    void advance_watermark(std::int64_t watermark_us);
    /// The rows to write now, per the output mode (see above).
    std::vector<WindowRow> emit();
    /// Late records kept for the dead-letter policy since the last call.
    std::vector<LateRecord> take_late() { return std::exchange(late_, {}); }

    const State& snapshot() const { return state_; }
    void restore(State state) { state_ = std::move(state); }

private:
    void add_to_session(const WindowInput& input);
    void forget_expired();  ///< drops final, unchanged windows past their retention
    std::vector<Window> target_windows(const WindowInput& input) const;

    WindowOperatorConfig config_;
    State state_;
    std::vector<LateRecord> late_;
};

}  // namespace starstream::engine
