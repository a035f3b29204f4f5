#include "spec/member_keys.h"

#include "pipeline/surrogate_key.h"
#include "spec/table_schema.h"
#include "spec/value_text.h"

namespace starstream::daemon::spec {

MemberKeys::MemberKeys(const PipelineSpec& spec, const ReferenceLayout& layout) {
    for (const auto& d : spec.dimensions) {
        Dimension dim;
        for (const auto& c : d.key) dim.key.push_back({layout.at(c.ref), reference_type(spec, c.ref)});
        dim.key_is_surrogate = d.key.size() == 1 && d.key[0].name == surrogate_key_column(d.table);
        dim.scd2 = d.policy == DimensionPolicy::scd2;
        dimensions_.push_back(std::move(dim));
    }
}

std::optional<std::int64_t> MemberKeys::of(std::size_t dimension, const std::vector<FieldValue>& values) const {
    const Dimension& d = dimensions_[dimension];
    if (d.scd2) return std::nullopt;
    if (d.key_is_surrogate) {
        // Only for an integer column (runnable_problem): the decoder made it an int64.
        const auto* key = std::get_if<std::int64_t>(&values[d.key[0].index]);
        return key ? std::optional<std::int64_t>(*key) : std::nullopt;
    }
    std::string buffer;
    if (d.key.size() == 1) {  // the common case, without copying the value
        const auto natural = input_view(values[d.key[0].index], d.key[0].type, buffer);
        return natural ? std::optional<std::int64_t>(surrogate_key(*natural)) : std::nullopt;
    }
    std::vector<std::string> parts;
    for (const auto& k : d.key) {
        const auto part = input_view(values[k.index], k.type, buffer);
        if (!part) return std::nullopt;
        parts.emplace_back(*part);
    }
    return surrogate_key(joined_key(parts));
}

void MemberKeys::fill(const std::vector<FieldValue>& values, std::vector<std::int64_t>& out) const {
    out.resize(dimensions_.size());
    for (std::size_t d = 0; d < dimensions_.size(); ++d) out[d] = of(d, values).value_or(kNone);
}

}  // namespace starstream::daemon::spec
