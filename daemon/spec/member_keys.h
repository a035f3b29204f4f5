// The dimension keys of a spec record: for each of the spec's dimensions, the surrogate key of the
// member the record belongs to, computed on the poll thread as the record is appended to its
// micro-batch (while its values are still in cache), so that the sink only reads them. The key of
// a member is surrogate_key() of its natural key as text (value_text.h input_view, a numeric or an
// inet part in one canonical spelling; several parts joined by joined_key, so keys without '|'
// or '\\' hash as the compiled pipeline's); a single key
// column already named like the surrogate key (dim_date's date_key) is the key itself. SCD type 2
// dimensions key their versions in the sink (Scd2Merge) and get no key here.
// Thread rules: const after construction; any thread.
#pragma once

#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

/// Whether one value of PostgreSQL type `type` has several spellings that key_text makes one
/// (numeric "1.0" and "1", inet "::1" and "0::1", double precision -0 and 0).
bool has_several_spellings(const std::string& type);

class MemberKeys {
public:
    /// No member: a part of the natural key is null, or an SCD type 2 dimension (keyed by the sink).
    static constexpr std::int64_t kNone = INT64_MIN;

    /// `spec` validated (spec_reader.h); `layout` its references.
    MemberKeys(const PipelineSpec& spec, const ReferenceLayout& layout);

    /// The key of `values`' member of dimension `dimension` (index in PipelineSpec::dimensions);
    /// nullopt when a part of its natural key is null or the dimension is SCD type 2.
    std::optional<std::int64_t> of(std::size_t dimension, const std::vector<FieldValue>& values) const;

    /// Every dimension's key of `values`, kNone for none: `out` holds one per dimension.
    void fill(const std::vector<FieldValue>& values, std::vector<std::int64_t>& out) const;

private:
    struct Part {
        std::size_t index = 0;  ///< in the record's values
        std::string type;       ///< the column's PostgreSQL type (table_schema.h reference_type)
    };
    struct Dimension {
        std::vector<Part> key;
        bool key_is_surrogate = false;
        bool scd2 = false;
    };
    std::vector<Dimension> dimensions_;
};

}  // namespace starstream::daemon::spec
