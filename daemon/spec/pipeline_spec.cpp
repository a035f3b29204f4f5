#include "spec/pipeline_spec.h"

namespace starstream::daemon::spec {

std::string column_name_of(const std::string& ref) { return ref.substr(ref.find('.') + 1); }

std::string surrogate_key_column(const std::string& table) { return (table.rfind("dim_", 0) == 0 ? table.substr(4) : table) + "_key"; }

std::vector<std::string> earliest_state_columns(const DimensionSpec& dimension) {
    std::vector<std::string> out;
    if (!dimension.attributes.empty()) out.push_back(dimension.attributes.front().name + "_seen");
    out.insert(out.end(), {"first_seen", "last_seen"});
    return out;
}

std::vector<std::string> scd1_state_columns(const DimensionSpec& dimension) {
    if (dimension.policy != DimensionPolicy::scd1 || dimension.attributes.empty()) return {};
    return {"attributes_event_time"};
}

std::vector<std::string> aggregate_state_columns(const WindowTableSpec& w, const AggregateSpec& a) {
    if (w.kind == WindowKind::session && (a.function == AggregateFunction::first || a.function == AggregateFunction::last))
        // the value at the session's first/last record, unless filtered: then its record's event time
        return a.where.empty() ? std::vector<std::string>{} : std::vector<std::string>{a.column + "_event_time"};
    switch (a.function) {
        case AggregateFunction::avg: return {a.column + "_sum", a.column + "_count"};
        case AggregateFunction::first:
        case AggregateFunction::last: return {a.column + "_event_time"};
        default: return {};
    }
}

const FieldSpec* PipelineSpec::field(const std::string& field_name) const {
    for (const auto& f : fields)
        if (f.name == field_name) return &f;
    return nullptr;
}

const DimensionSpec* PipelineSpec::dimension(const std::string& table) const {
    for (const auto& d : dimensions)
        if (d.table == table) return &d;
    return nullptr;
}

std::vector<std::string> PipelineSpec::tables() const {
    std::vector<std::string> out;
    for (const auto& d : dimensions) out.push_back(d.table);
    for (const auto& f : facts) out.push_back(f.table);
    for (const auto& w : windows) out.push_back(w.table);
    return out;
}

}  // namespace starstream::daemon::spec
