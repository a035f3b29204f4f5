#include "sink/postgres/schema_check.h"

#include "sink/postgres/progress_store.h"
#include "sink/postgres/unique_keys.h"
#include "spec/spec_reader.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <set>

namespace starstream::daemon::postgres {

namespace {

struct Relation {
    std::string kind;  ///< pg_class.relkind: r table, p partitioned table, v view...
    std::string qualified;
    std::map<std::string, std::string> columns;  ///< name -> format_type(), e.g. "numeric(5,2)"
    std::vector<UniqueKey> keys;
};

/// The specs' table names as unqualified SQL resolves them (to_regclass follows search_path).
std::map<std::string, Relation> resolve(PgConnection& conn, const std::vector<std::string>& names) {
    PgResult rows = conn.exec_params(R"SQL(
SELECT t.name, c.relkind, format('%I.%I', n.nspname, c.relname), a.attname, format_type(a.atttypid, a.atttypmod)
FROM unnest($1::text[]) AS t(name)
JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)SQL",
                                     {text_array(names)});
    std::map<std::string, Relation> out;
    for (int i = 0; i < PQntuples(rows.get()); ++i) {
        Relation& r = out[PQgetvalue(rows.get(), i, 0)];
        r.kind = PQgetvalue(rows.get(), i, 1), r.qualified = PQgetvalue(rows.get(), i, 2);
        if (!PQgetisnull(rows.get(), i, 3)) r.columns[PQgetvalue(rows.get(), i, 3)] = PQgetvalue(rows.get(), i, 4);
    }
    for (auto& [name, keys] : read_unique_keys(conn, names))
        if (out.count(name)) out[name].keys = std::move(keys);
    return out;
}

std::string plural(std::size_t n, const std::string& word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

using Conflict = std::function<void(const std::string&)>;

/// "(lab_item_key) primary key, (item_id, valid_from)" or "no unique key".
std::string describe_keys(const std::vector<UniqueKey>& keys) {
    std::vector<std::string> out;
    for (const auto& k : keys) out.push_back(describe_columns(k.columns) + (k.primary ? " primary key" : ""));
    return out.empty() ? "no unique key" : fmt::format("{}", fmt::join(out, ", "));
}

/// The keys the runtime relies on: the primary key (a fact's grain) and a dimension's natural key.
void check_keys(const spec::TableSchema& table, const Relation& relation, const Conflict& conflict) {
    const std::set<std::string> primary(table.primary_key.begin(), table.primary_key.end());
    const std::set<std::string> natural(table.natural_key.begin(), table.natural_key.end());
    bool has_primary = false, has_natural = natural.empty();
    for (const auto& k : relation.keys) {
        has_primary = has_primary || (k.primary && k.columns == primary);
        has_natural = has_natural || k.columns == natural;
    }
    const std::string what = table.kind == spec::TableKind::fact ? "grain (primary key)" : "primary key";
    if (!has_primary)
        conflict(fmt::format("{}: the spec makes it {}, the database's {} has {}", what, describe_columns(primary), relation.qualified, describe_keys(relation.keys)));
    if (!has_natural)
        conflict(fmt::format("natural key: the spec makes members unique on {}, the database's {} has {}", describe_columns(natural), relation.qualified,
                             describe_keys(relation.keys)));
}

/// Compares one existing table's columns and keys; adds the columns it lacks to `out`.
void compare_table(const spec::PipelineSpec& s, const spec::TableSchema& table, const Relation& relation, const Conflict& conflict,
                   std::set<std::string>& reported, SchemaDifference& out) {
    if (relation.kind != "r" && relation.kind != "p") conflict("the spec writes a table, but " + relation.qualified + " is not one (a view or another relation)");
    for (const auto& column : table.columns) {
        const auto type = relation.columns.find(column.name);
        if (type == relation.columns.end()) {
            if (reported.insert(table.table + "." + column.name).second) out.columns.push_back({s.name, s.file, table.table, relation.qualified, column});
        } else if (!spec::holds(type->second, column.type)) {
            conflict("column " + column.name + ": the spec makes it " + column.type + ", the database's " + relation.qualified + "." + column.name + " is " +
                     type->second);
        }
    }
    // After the columns: a changed type says more than the key it breaks.
    check_keys(table, relation, conflict);
}

}  // namespace

std::string SchemaDifference::describe() const {
    std::string out = "no conflicting column or key";
    std::vector<std::string> t, c;
    for (const auto& m : tables) t.push_back(m.schema.table + " (" + m.file + ", " + plural(m.schema.columns.size(), "column") + ")");
    for (const auto& m : columns) c.push_back(m.table + "." + m.column.name + " " + m.column.type + " (" + m.file + ")");
    if (!t.empty()) out += fmt::format("; tables not in it yet: {}", fmt::join(t, ", "));
    if (!c.empty()) out += fmt::format("; columns not in it yet: {}", fmt::join(c, ", "));
    return out;
}

SchemaDifference compare_schema(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs) {
    std::vector<std::string> names;
    for (const auto& s : specs)
        for (const auto& t : s.tables()) names.push_back(t);
    const auto database = resolve(conn, names);

    SchemaDifference out;
    std::set<std::string> reported;  // a conformed dimension shared by several specs: once
    for (const auto& s : specs)
        for (const auto& table : spec::table_schemas(s)) {
            const Conflict conflict = [&](const std::string& message) {
                throw spec::SpecError(s.file, table.line, 1, table.key, message + " (change one of them; stopping before anything is written or consumed)");
            };
            const auto found = database.find(table.table);
            if (found != database.end()) compare_table(s, table, found->second, conflict, reported, out);
            else if (reported.insert(table.table).second) out.tables.push_back({s.name, s.file, table});
        }
    return out;
}

}  // namespace starstream::daemon::postgres
