// One micro-batch of a spec pipeline: each decoded record's values (the spec's fields, then its
// enrichers' outputs: ReferenceLayout) with where it came from and its event time, on the
// engine's MicroBatch header. The sink projects them onto the spec's tables. The rows' text values
// are views into the batch's own arena (text_arena.h): valid while the batch lives, whatever
// happens to its rows (drop_rows and remove_rows move rows; the arena stays).
// Thread rules: filled on the poll thread, then handed to the sink thread, which reads it; never
// shared.
#pragma once

#include "batch/micro_batch.h"
#include "spec/record_decoder.h"
#include "spec/text_arena.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace starstream::daemon::spec {

struct SpecRow {
    std::vector<FieldValue> values;  ///< in ReferenceLayout order
    /// Per dimension of the spec: its member's surrogate key (MemberKeys, kNone for none), filled
    /// by the stage on the poll thread; empty in a row made otherwise (the sink computes them).
    std::vector<std::int64_t> member_keys;
    /// Bit i: the record passes the spec's window filter i (RecordFilters), filled by the stage on
    /// the poll thread; none in a row made otherwise (the sink evaluates the filters).
    std::optional<std::uint64_t> passed_filters;
    std::int64_t event_time_us = 0;  ///< Unix microseconds
    std::uint16_t topic_index = 0;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
};

struct SpecBatch final : engine::MicroBatch {
    std::vector<SpecRow> rows;
    TextArena arena;  ///< the bytes of every row's Text values

    /// `s` kept in the batch's arena: a text value for one of its rows.
    Text text(std::string_view s) { return arena.store(s); }
    std::int64_t min_event_time_us = INT64_MAX, max_event_time_us = INT64_MIN;

private:
    void drop_rows(const std::set<engine::TopicPartition>& partitions) override;
    void remove_rows(const std::vector<engine::RejectedRow>& rejected) override;
};

}  // namespace starstream::daemon::spec
