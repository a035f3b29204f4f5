#include "spec/table_schema.h"

#include "spec/enricher_catalog.h"

#include <map>

namespace starstream::daemon::spec {

namespace {

constexpr const char* kTimestamptz = "timestamp with time zone";

std::string field_type(FieldType type) {
    switch (type) {
        case FieldType::text: return "text";
        case FieldType::integer: return "bigint";
        case FieldType::numeric: return "numeric";
        case FieldType::double_precision: return "double precision";
        case FieldType::boolean: return "boolean";
        case FieldType::uuid: return "uuid";
        case FieldType::inet: return "inet";
        case FieldType::jsonb: return "jsonb";
        case FieldType::timestamp: return kTimestamptz;
    }
    return "text";
}

/// A dimension's surrogate key: bigint, or the type of the single natural key so named.
ColumnSchema surrogate_key(const PipelineSpec& spec, const DimensionSpec& d) {
    const std::string name = surrogate_key_column(d.table);
    if (d.key.size() == 1 && d.key[0].name == name) return {name, reference_type(spec, d.key[0].ref)};
    return {name, "bigint"};
}

std::string aggregate_type(const PipelineSpec& spec, const AggregateSpec& a) {
    switch (a.function) {
        case AggregateFunction::count:
        case AggregateFunction::count_distinct: return "bigint";
        case AggregateFunction::any: return "boolean";
        case AggregateFunction::sum:
        case AggregateFunction::avg: {
            const std::string of = reference_type(spec, a.of);
            if (of == "double precision") return of;
            return a.function == AggregateFunction::sum && of == "bigint" ? "bigint" : "numeric";
        }
        default: return reference_type(spec, a.of);
    }
}

}  // namespace

std::string reference_type(const PipelineSpec& spec, const std::string& ref) {
    if (const FieldSpec* f = spec.field(ref)) return field_type(f->type);
    const std::string enricher = ref.substr(0, ref.find('.')), output = column_name_of(ref);
    for (const auto& e : spec.enrichers)
        if (e.name == enricher)
            if (const EnricherFunction* fn = find_enricher(e.function))
                if (const EnricherOutput* o = find_output(*fn, output)) return std::string(o->type);
    return "text";  // unreachable for a spec spec_reader accepted: every reference resolves
}

bool holds(const std::string& database_type, const std::string& spec_type) {
    static const std::map<std::string, int> width = {{"smallint", 2}, {"integer", 4}, {"bigint", 8}};
    const auto db = width.find(database_type), wanted = width.find(spec_type);
    if (db != width.end() && wanted != width.end()) return db->second >= wanted->second;
    return database_type == spec_type;
}

std::vector<TableSchema> table_schemas(const PipelineSpec& spec) {
    std::vector<TableSchema> out;
    auto table = [&](const std::string& section, const std::string& name) -> TableSchema& {
        out.push_back({name, section + "." + name, spec.lines.count(name) ? spec.lines.at(name) : 0, {}});
        return out.back();
    };
    auto add = [&](TableSchema& t, const std::vector<Column>& columns) {
        for (const auto& c : columns) t.columns.push_back({c.name, reference_type(spec, c.ref)});
    };
    for (const auto& d : spec.dimensions) {
        TableSchema& t = table("dimensions", d.table);
        const ColumnSchema key = surrogate_key(spec, d);
        t.columns.push_back(key);
        for (const auto& c : d.key)
            if (c.name != key.name) t.columns.push_back({c.name, reference_type(spec, c.ref)});
        add(t, d.attributes);
        if (d.policy == DimensionPolicy::scd2) t.columns.insert(t.columns.end(), {{"valid_from", kTimestamptz}, {"valid_to", kTimestamptz}, {"is_current", "boolean"}});
    }
    for (const auto& f : spec.facts) {
        TableSchema& t = table("facts", f.table);
        for (const auto& d : f.dimensions) t.columns.push_back(surrogate_key(spec, *spec.dimension(d)));
        add(t, f.columns);
    }
    for (const auto& w : spec.windows) {
        TableSchema& t = table("windows", w.table);
        t.columns.push_back({w.start_column, kTimestamptz});
        t.columns.push_back({w.end_column, kTimestamptz});
        for (const auto& g : w.group_by) {
            if (const DimensionSpec* d = spec.dimension(g)) t.columns.push_back(surrogate_key(spec, *d));
            else t.columns.push_back({column_name_of(g), reference_type(spec, g)});
        }
        if (!w.session_key.empty()) t.columns.push_back({column_name_of(w.session_key), reference_type(spec, w.session_key)});
        for (const auto& a : w.aggregates) t.columns.push_back({a.column, aggregate_type(spec, a)});
    }
    return out;
}

}  // namespace starstream::daemon::spec
