// One micro-batch of a spec pipeline: its rows (spec_row.h) on the engine's MicroBatch header,
// with the window operators' folds of them (window_fold.h). The sink projects them onto the
// spec's tables. The rows' text values are views into the batch's own arena (text_arena.h): valid
// while the batch lives, whatever happens to its rows (drop_rows and remove_rows move rows; the
// arena stays).
// Thread rules: filled on the poll thread, then handed to the sink thread, which reads it; never
// shared.
#pragma once

#include "batch/micro_batch.h"
#include "spec/session_fold.h"
#include "spec/spec_row.h"
#include "spec/text_arena.h"
#include "spec/window_fold.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace starstream::daemon::spec {

struct SpecBatch final : engine::MicroBatch {
    std::vector<SpecRow> rows;
    TextArena arena;  ///< the bytes of every row's Text values
    /// The stage's fold of every row for each of the spec's folded window tables (folded_windows
    /// order); emptied when rows go (drop_rows, remove_rows): the sink then folds the rows itself.
    std::vector<WindowFold> window_folds;
    std::vector<SessionFold> session_folds;  ///< likewise, per session window table (folded_sessions order)

    /// `s` kept in the batch's arena: a text value for one of its rows.
    Text text(std::string_view s) { return arena.store(s); }
    std::int64_t min_event_time_us = INT64_MAX, max_event_time_us = INT64_MIN;

private:
    void drop_rows(const std::set<engine::TopicPartition>& partitions) override;
    void remove_rows(const std::vector<engine::RejectedRow>& rejected) override;
};

}  // namespace starstream::daemon::spec
