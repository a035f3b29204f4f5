#include "sink/postgres/schema_check.h"

#include "sink/postgres/progress_store.h"
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace starstream::daemon::postgres {

namespace {

struct Relation {
    std::string kind;  ///< pg_class.relkind: r table, p partitioned table, v view...
    std::string qualified;
    std::map<std::string, std::string> columns;  ///< name -> format_type(), e.g. "numeric(5,2)"
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
    return out;
}

std::string plural(std::size_t n, const std::string& word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

}  // namespace

std::string SchemaDifference::describe() const {
    std::string out = "no conflicting column";
    if (!missing_tables.empty()) out += fmt::format("; tables not in it yet: {}", fmt::join(missing_tables, ", "));
    if (!missing_columns.empty()) out += fmt::format("; columns not in it yet: {}", fmt::join(missing_columns, ", "));
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
            auto conflict = [&](const std::string& message) {
                throw spec::SpecError(s.file, table.line, 1, table.key, message + " (change one of them; stopping before anything is consumed)");
            };
            const auto found = database.find(table.table);
            if (found == database.end()) {
                if (reported.insert(table.table).second)
                    out.missing_tables.push_back(table.table + " (" + s.file + ", " + plural(table.columns.size(), "column") + ")");
                continue;
            }
            const Relation& relation = found->second;
            if (relation.kind != "r" && relation.kind != "p") conflict("the spec writes a table, but " + relation.qualified + " is not one (a view or another relation)");
            for (const auto& column : table.columns) {
                const auto type = relation.columns.find(column.name);
                if (type == relation.columns.end()) {
                    if (reported.insert(table.table + "." + column.name).second)
                        out.missing_columns.push_back(table.table + "." + column.name + " " + column.type + " (" + s.file + ")");
                } else if (!spec::holds(type->second, column.type)) {
                    conflict("column " + column.name + ": the spec makes it " + column.type + ", the database's " + relation.qualified + "." + column.name +
                             " is " + type->second);
                }
            }
        }
    return out;
}

}  // namespace starstream::daemon::postgres
