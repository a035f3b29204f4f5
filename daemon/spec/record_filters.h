// The record filters of a spec's windows (`where:` of a window table or of one aggregate),
// compiled against a ReferenceLayout: every listed reference must equal one of its values,
// compared as values of the reference's type (a boolean's `true`, `yes` or `1` all match true, a
// number's `10` matches 10.0; anything else compares as text), or have a value at all
// (`{present: true}`: no values listed). A null never passes.
// RecordFilters numbers the spec's distinct filters and evaluates them all for a record on the
// poll thread, as SpecStage appends it (SpecRow::passed_filters), so that the window and session
// writers on the sink thread, whose batch transaction is the pipeline's critical path, only test
// bits (a table's filter and each aggregate's were ~60 % of the sink thread's value reading).
// Value types; const after construction; any thread.
#pragma once

#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"
#include "spec/spec_row.h"

#include <cstdint>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

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

/// Every distinct non-empty `where` of `spec`'s windows and their aggregates, in spec order: what
/// RecordFilters numbers (the spec reader refuses a spec with more than RecordFilters::kMaxFilters).
std::vector<Filter> distinct_window_filters(const PipelineSpec& spec);

class RecordFilters {
public:
    /// The most distinct filters a spec's windows may have (one bit each in SpecRow::passed_filters).
    static constexpr std::size_t kMaxFilters = 64;
    /// The number of the empty filter, which every record passes.
    static constexpr std::size_t kNone = SIZE_MAX;

    /// distinct_window_filters(spec), numbered in that order (two RecordFilters of one spec number
    /// alike); `layout` the spec's references. Throws ConfigError when there are more than
    /// kMaxFilters (a spec the reader made never has).
    RecordFilters(const PipelineSpec& spec, const ReferenceLayout& layout);

    /// The number of `filter`, one of the spec's window or aggregate filters (kNone when empty).
    std::size_t number(const Filter& filter) const;
    /// Bit i set: `values` (a record's, in layout order) pass filter i.
    std::uint64_t evaluate(const std::vector<FieldValue>& values) const;
    /// Whether `row` passes filter `filter` (kNone: true), by its bit from the poll thread, or
    /// evaluated now for a row made without one.
    bool passes(std::size_t filter, const SpecRow& row) const;

private:
    std::vector<Filter> filters_;
    std::vector<std::vector<Condition>> conditions_;  ///< per filter
};

}  // namespace starstream::daemon::spec
