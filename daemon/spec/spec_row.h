// One record of a spec pipeline's micro-batch: its values (the spec's fields, then its enrichers'
// outputs: ReferenceLayout) with where it came from, its event time and what the stage computed
// of it on the poll thread.
// Thread rules: as its batch's (spec_batch.h).
#pragma once

#include "spec/record_decoder.h"

#include <cstdint>
#include <optional>
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

}  // namespace starstream::daemon::spec
