#include "spec/table_schema.h"

#include <algorithm>

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

namespace {

TableSchema table(const PipelineSpec& spec, const std::string& section, const std::string& name, TableKind kind) {
    return {name, section + "." + name, spec.lines.count(name) ? spec.lines.at(name) : 0, kind, {}, {}, {}, {}};
}

/// Attributes, fact columns: nullable (a field that is not required).
void add(const PipelineSpec& spec, TableSchema& t, const std::vector<Column>& columns) {
    for (const auto& c : columns) t.columns.push_back({c.name, reference_type(spec, c.ref)});
}

std::vector<std::string> names(const std::vector<Column>& columns) {
    std::vector<std::string> out;
    for (const auto& c : columns) out.push_back(c.name);
    return out;
}

TableSchema dimension_schema(const PipelineSpec& spec, const DimensionSpec& d) {
    TableSchema t = table(spec, "dimensions", d.table, TableKind::dimension);
    ColumnSchema key = surrogate_key(spec, d);
    key.not_null = true;
    t.columns.push_back(key);
    t.primary_key = {key.name};
    for (const auto& c : d.key)
        if (c.name != key.name) t.columns.push_back({c.name, reference_type(spec, c.ref), true});
    add(spec, t, d.attributes);
    t.natural_key = names(d.key);
    if (d.policy == DimensionPolicy::earliest) {
        // The attributes' time may be NULL (an inferred member); first and last seen never are.
        for (const auto& c : earliest_state_columns(d)) t.columns.push_back({c, kTimestamptz, c == "first_seen" || c == "last_seen"});
    }
    for (const auto& c : scd1_state_columns(d)) t.columns.push_back({c, kTimestamptz});  // NULL in rows older than the column
    if (d.policy == DimensionPolicy::scd2) {
        t.columns.insert(t.columns.end(), {{"valid_from", kTimestamptz, true}, {"valid_to", kTimestamptz, true}, {"is_current", "boolean", true}});
        t.current_key = t.natural_key;
        t.natural_key.push_back("valid_from");
    }
    return t;
}

/// The fact's column holding `ref` (spec_reader makes sure there is one).
std::string column_holding(const FactSpec& f, const std::string& ref) {
    for (const auto& c : f.columns)
        if (c.ref == ref) return c.name;
    return column_name_of(ref);
}

TableSchema fact_schema(const PipelineSpec& spec, const FactSpec& f) {
    TableSchema t = table(spec, "facts", f.table, TableKind::fact);
    for (const auto& d : f.dimensions) t.columns.push_back(surrogate_key(spec, *spec.dimension(d)));
    add(spec, t, f.columns);
    for (const auto& ref : f.grain.empty() ? spec.event.id : f.grain) t.primary_key.push_back(column_holding(f, ref));
    for (auto& c : t.columns)
        for (const auto& k : t.primary_key) c.not_null = c.not_null || c.name == k;
    return t;
}

TableSchema window_schema(const PipelineSpec& spec, const WindowTableSpec& w) {
    TableSchema t = table(spec, "windows", w.table, TableKind::window);
    if (w.kind != WindowKind::global) {  // a global window is one row per group: no bounds
        t.columns.push_back({w.start_column, kTimestamptz, true});
        t.columns.push_back({w.end_column, kTimestamptz, true});
    }
    std::vector<std::string> groups;
    for (const auto& g : w.group_by) {
        ColumnSchema c = spec.dimension(g) ? surrogate_key(spec, *spec.dimension(g)) : ColumnSchema{column_name_of(g), reference_type(spec, g)};
        c.not_null = true;
        t.columns.push_back(c);
        groups.push_back(c.name);
    }
    if (w.kind == WindowKind::session) {
        t.columns.push_back({kSessionLastEventTime, kTimestamptz, true});
        t.columns.push_back({column_name_of(w.session_key), reference_type(spec, w.session_key), true});
        t.primary_key.push_back(t.columns.back().name);
        t.primary_key.insert(t.primary_key.end(), groups.begin(), groups.end());
        t.primary_key.push_back(w.start_column);
    } else {
        if (w.kind != WindowKind::global) t.primary_key.push_back(w.start_column);
        if (w.kind == WindowKind::cumulative) t.primary_key.push_back(w.end_column);
        t.primary_key.insert(t.primary_key.end(), groups.begin(), groups.end());
    }
    for (const auto& a : w.aggregates) {
        t.columns.push_back({a.column, aggregate_type(spec, a)});
        const std::vector<std::string> state = aggregate_state_columns(w, a);
        if (a.function == AggregateFunction::avg)  // the sum as sum(x) makes it, and the count
            t.columns.insert(t.columns.end(), {{state[0], aggregate_type(spec, {a.column, AggregateFunction::sum, a.of, {}})}, {state[1], "bigint"}});
        else  // first, last (in a session only with its own filter): the chosen record's event time
            for (const auto& s : state) t.columns.push_back({s, kTimestamptz});
    }
    return t;
}

}  // namespace

std::string scd2_observation_table(const std::string& dimension) { return dimension + "_observation"; }

std::string distinct_member_table(const WindowTableSpec& w, const AggregateSpec& a) { return w.table + "_" + a.column + "_members"; }

std::string mode_count_table(const WindowTableSpec& w, const AggregateSpec& a) { return w.table + "_" + a.column + "_counts"; }

namespace {

/// The side tables of `function`'s aggregates: each starts with its window table's key columns
/// (named `table_of(window, aggregate)`, keyed "windows.<window>.aggregates.<column>").
template <typename Name>
std::vector<TableSchema> side_tables(const PipelineSpec& spec, AggregateFunction function, Name table_of, const std::string& value_column,
                                     bool counted) {
    std::vector<TableSchema> out;
    for (const auto& w : spec.windows) {
        if (w.kind == WindowKind::session) continue;
        const TableSchema window = window_schema(spec, w);
        for (const auto& a : w.aggregates) {
            if (a.function != function) continue;
            TableSchema t = table(spec, "windows", table_of(w, a), TableKind::window);
            t.key = "windows." + w.table + ".aggregates." + a.column;
            t.line = window.line;
            for (const auto& c : window.columns)
                if (std::find(window.primary_key.begin(), window.primary_key.end(), c.name) != window.primary_key.end()) t.columns.push_back(c);
            t.columns.push_back({value_column, reference_type(spec, a.of), true});
            for (const auto& c : t.columns) t.primary_key.push_back(c.name);
            if (counted) t.columns.push_back({"occurrences", "bigint", true});
            out.push_back(t);
        }
    }
    return out;
}

}  // namespace

std::vector<TableSchema> distinct_member_tables(const PipelineSpec& spec) {
    return side_tables(spec, AggregateFunction::count_distinct, distinct_member_table, "member", false);
}

std::vector<TableSchema> mode_count_tables(const PipelineSpec& spec) { return side_tables(spec, AggregateFunction::mode, mode_count_table, "value", true); }

std::vector<TableSchema> table_schemas(const PipelineSpec& spec) {
    std::vector<TableSchema> out;
    for (const auto& d : spec.dimensions) out.push_back(dimension_schema(spec, d));
    for (const auto& f : spec.facts) out.push_back(fact_schema(spec, f));
    for (const auto& w : spec.windows) out.push_back(window_schema(spec, w));
    return out;
}

}  // namespace starstream::daemon::spec
