// A spec window's record filters (`where:` of a window table or of one aggregate) compiled
// against a ReferenceLayout: every listed reference must equal one of its values, compared as
// values of the reference's type (a boolean's `true`, `yes` or `1` all match true, a number's
// `10` matches 10.0; anything else compares as text), or have a value at all (`{present: true}`:
// no values listed). A null never passes.
// Shared by the fixed windows (spec_window_writer.h) and the sessions (spec_session_writer.h).
// Value types; any thread.
#pragma once

#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"
#include "spec/spec_batch.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// One reference compared with a filter's values.
struct Condition {
    std::size_t index = 0;  ///< the reference's place in a record's values
    std::string type;       ///< its PostgreSQL type (spec::reference_type)
    std::vector<std::string> values;  ///< booleans as "t"/"f"
    std::vector<double> numbers;      ///< numeric types: the values as numbers

    static bool numeric(const std::string& type);
    /// Whether `value` (in input_text syntax) is one of the values; any value when none are listed.
    bool holds(std::string_view value) const;
};

/// `filter` as conditions on the records of `spec` laid out by `layout`.
std::vector<Condition> conditions(const spec::Filter& filter, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout);

/// Whether `row` passes every condition (true for none).
bool passes(const std::vector<Condition>& conditions, const spec::SpecRow& row);

}  // namespace starstream::daemon::postgres
