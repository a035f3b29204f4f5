// A part of a key that a window operator reads from a spec row (spec/window_fold.h,
// spec/session_fold.h): a reference's value, or a dimension's surrogate key (SpecRow::member_keys
// on the poll thread, the merged keys on the sink thread).
// Thread rules: a value; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

struct KeyInput {
    std::size_t index = 0;  ///< a reference's index in a row (layout), or a dimension's (PipelineSpec::dimensions)
    std::string type;       ///< its PostgreSQL type (bigint for a dimension's key)
    bool dimension = false;
};

/// The dimensions whose keys `inputs` read, in their order.
inline std::vector<std::size_t> dimensions_read(const std::vector<KeyInput>& inputs) {
    std::vector<std::size_t> out;
    for (const KeyInput& in : inputs)
        if (in.dimension) out.push_back(in.index);
    return out;
}

}  // namespace starstream::daemon::spec
