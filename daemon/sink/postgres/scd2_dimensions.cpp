#include "sink/postgres/scd2_dimensions.h"

#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <algorithm>

namespace starstream::daemon::postgres {

namespace {

std::vector<Scd2Column> typed(const spec::PipelineSpec& spec, const std::vector<spec::Column>& columns) {
    std::vector<Scd2Column> out;
    for (const auto& c : columns) out.push_back({c.name, spec::reference_type(spec, c.ref)});
    return out;
}

/// The fact tables of `spec` that carry `table`'s key.
void add_facts(const spec::PipelineSpec& spec, const std::string& table, Scd2Dimension& d) {
    for (const auto& f : spec.facts) {
        if (std::find(f.dimensions.begin(), f.dimensions.end(), table) == f.dimensions.end()) continue;
        const auto time = std::find_if(f.columns.begin(), f.columns.end(), [&](const spec::Column& c) { return c.ref == spec.event.time; });
        if (time == f.columns.end())
            throw spec::SpecError(spec.file, spec.lines.count(f.table) ? spec.lines.at(f.table) : 0, 0, "facts." + f.table,
                                  "a fact of the SCD type 2 dimension " + table + " needs its event time '" + spec.event.time +
                                      "' as a column (add it to columns), so that its rows can move to the version a late observation makes");
        d.facts.push_back({f.table, d.surrogate_key, time->name});
    }
}

}  // namespace

std::vector<Scd2Dimension> scd2_dimensions(const std::vector<spec::PipelineSpec>& specs) {
    std::vector<Scd2Dimension> out;
    for (const auto& spec : specs)
        for (const auto& dim : spec.dimensions) {
            if (dim.policy != spec::DimensionPolicy::scd2) continue;
            if (std::any_of(out.begin(), out.end(), [&](const Scd2Dimension& d) { return d.table == dim.table; })) continue;
            Scd2Dimension d{dim.table, spec::surrogate_key_column(dim.table), typed(spec, dim.key), typed(spec, dim.attributes), {}};
            for (const auto& other : specs)
                if (other.dimension(dim.table)) add_facts(other, dim.table, d);
            out.push_back(std::move(d));
        }
    return out;
}

}  // namespace starstream::daemon::postgres
