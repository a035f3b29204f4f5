#include "sink/postgres/spec_ddl.h"

#include "spec/table_schema.h"

#include <fmt/format.h>

#include <set>

namespace starstream::daemon::postgres {

namespace {

/// PostgreSQL 15's reserved words and those that cannot name a column (SELECT word FROM
/// pg_get_keywords() WHERE catcode IN ('R', 'T')). The others ("timestamp", "date") can.
const std::set<std::string>& reserved_words() {
    static const std::set<std::string> words = {
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary", "both", "case", "cast",
        "check", "collate", "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog", "current_date",
        "current_role", "current_schema", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct",
        "do", "else", "end", "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike",
        "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
        "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order", "outer", "overlaps", "placing",
        "primary", "references", "returning", "right", "select", "session_user", "similar", "some", "symmetric", "system_user", "table",
        "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "verbose", "when", "where",
        "window", "with"};
    return words;
}

std::string identifiers(const std::vector<std::string>& names) {
    std::vector<std::string> quoted;
    for (const auto& n : names) quoted.push_back(sql_identifier(n));
    return fmt::format("{}", fmt::join(quoted, ", "));
}

std::string column_definition(const spec::ColumnSchema& c) {
    return fmt::format("{} {}{}", sql_identifier(c.name), c.type, c.not_null ? " NOT NULL" : "");
}

/// Unless the natural key is the primary key itself (dim_date's date_key).
bool needs_natural_key(const spec::TableSchema& t) {
    return !t.natural_key.empty() && std::set<std::string>(t.natural_key.begin(), t.natural_key.end()) !=
                                         std::set<std::string>(t.primary_key.begin(), t.primary_key.end());
}

SpecMigration& migration_of(std::vector<SpecMigration>& out, const std::string& pipeline, const std::string& file) {
    for (auto& m : out)
        if (m.file == file) return m;
    out.push_back({pipeline, file, {}});
    return out.back();
}

}  // namespace

std::string sql_identifier(const std::string& name) { return reserved_words().count(name) ? "\"" + name + "\"" : name; }

std::vector<SpecStatement> create_table(const spec::TableSchema& t) {
    const std::string table = sql_identifier(t.table);
    std::vector<std::string> lines;
    for (const auto& c : t.columns) lines.push_back(column_definition(c));
    lines.push_back(fmt::format("CONSTRAINT {} PRIMARY KEY ({})", sql_identifier(t.table + "_pkey"), identifiers(t.primary_key)));
    if (needs_natural_key(t)) lines.push_back(fmt::format("CONSTRAINT {} UNIQUE ({})", sql_identifier(t.table + "_natural_key"), identifiers(t.natural_key)));
    if (!t.current_key.empty()) {
        // What the SCD type 2 merge keeps true (scd2_merge.h): versions are non-empty and the
        // current one is the one open to the future.
        lines.push_back(fmt::format("CONSTRAINT {} CHECK (valid_from < valid_to)", sql_identifier(t.table + "_validity")));
        lines.push_back(fmt::format("CONSTRAINT {} CHECK (is_current = (valid_to = 'infinity'))", sql_identifier(t.table + "_current_version")));
    }
    std::vector<SpecStatement> out = {{t.table, fmt::format("CREATE TABLE {} (\n    {}\n)", table, fmt::join(lines, ",\n    "))}};
    if (!t.current_key.empty())
        out.push_back({t.table, fmt::format("CREATE UNIQUE INDEX {} ON {} ({}) WHERE is_current", sql_identifier(t.table + "_current"), table,
                                            identifiers(t.current_key))});
    return out;
}

SpecStatement add_column(const MissingColumn& m) {
    spec::ColumnSchema nullable = m.column;
    nullable.not_null = false;
    return {m.table + "." + m.column.name, fmt::format("ALTER TABLE {} ADD COLUMN {}", m.qualified, column_definition(nullable))};
}

namespace {

/// `text` as an SQL string literal.
std::string sql_literal(const std::string& text) {
    std::string out = "'";
    for (char ch : text) out += ch == '\'' ? std::string("''") : std::string(1, ch);
    return out + "'";
}

}  // namespace

std::vector<SpecStatement> create_view(const spec::PipelineSpec& spec, const spec::WindowTableSpec& w) {
    const spec::WindowViewSpec& v = w.view;
    if (v.name.empty()) return {};
    std::vector<std::string> inner;
    for (const auto& t : spec::table_schemas(spec))
        if (t.table == w.table)
            for (const auto& c : t.columns) inner.push_back("t." + sql_identifier(c.name));
    const std::string table = sql_identifier(w.table), key = "windows." + w.table;
    std::vector<SpecCheck> checks;
    for (const auto& d : v.derived) {
        inner.push_back(fmt::format("({}) AS {}", d.expression, sql_identifier(d.name)));
        checks.push_back({fmt::format("SELECT ({}) FROM {} t LIMIT 0", d.expression, table), key + ".derived." + d.name, d.line, d.column});
    }
    const std::string rows = fmt::format("(SELECT {} FROM {} t) d", fmt::join(inner, ", "), table);
    std::string outer = "d.*";
    if (!v.segment_column.empty()) {
        std::string cases = "CASE";
        for (std::size_t i = 0; i < v.segments.size(); ++i) {
            const auto& r = v.segments[i];
            if (r.when.empty()) {
                cases += " ELSE " + sql_literal(r.name);
                continue;
            }
            cases += fmt::format(" WHEN ({}) THEN {}", r.when, sql_literal(r.name));
            // CASE WHEN refuses a condition that is not boolean, as the view would.
            checks.push_back({fmt::format("SELECT CASE WHEN ({}) THEN 1 END FROM {} LIMIT 0", r.when, rows),
                              fmt::format("{}.segments.rules[{}].when", key, i), r.line, r.column});
        }
        outer += fmt::format(", {} END AS {}", cases, sql_identifier(v.segment_column));
    }
    const std::string view = sql_identifier(v.name);
    return {{v.name, "DROP VIEW IF EXISTS " + view},
            {v.name, fmt::format("CREATE VIEW {} AS\nSELECT {}\nFROM {}", view, outer, rows), std::move(checks)}};
}

std::vector<SpecStatement> scd2_state(const Scd2Dimension& d) {
    std::vector<std::string> columns, key;
    for (const auto& c : d.natural_key) columns.push_back(sql_identifier(c.name) + " " + c.type + " NOT NULL"), key.push_back(c.name);
    columns.push_back("observed_at timestamp with time zone NOT NULL");
    key.push_back("observed_at");
    for (const auto& c : d.attributes) columns.push_back(sql_identifier(c.name) + " " + c.type + " NOT NULL"), key.push_back(c.name);
    std::vector<SpecStatement> out = {
        {d.table, "CREATE SEQUENCE " + sql_identifier(d.key_sequence())},
        {d.observation_table(), fmt::format("CREATE TABLE {} (\n    {},\n    CONSTRAINT {} PRIMARY KEY ({})\n)", sql_identifier(d.observation_table()),
                                            fmt::join(columns, ",\n    "), sql_identifier(d.observation_table() + "_pkey"), identifiers(key))}};
    for (const auto& f : d.facts)
        out.push_back({f.table, fmt::format("CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})", sql_identifier(f.table + "_" + f.key_column + "_time"),
                                            sql_identifier(f.table), sql_identifier(f.key_column), sql_identifier(f.time_column))});
    return out;
}

std::vector<SpecMigration> spec_ddl(const SchemaDifference& difference, const std::vector<Scd2Dimension>& scd2) {
    std::vector<SpecMigration> out;
    for (const auto& t : difference.tables) {
        auto statements = create_table(t.schema);
        auto& m = migration_of(out, t.pipeline, t.file);
        m.statements.insert(m.statements.end(), statements.begin(), statements.end());
    }
    // After every CREATE TABLE: an SCD type 2 dimension's facts may be created after it.
    for (const auto& t : difference.tables)
        for (const auto& d : scd2)
            if (d.table == t.schema.table) {
                auto statements = scd2_state(d);
                auto& m = migration_of(out, t.pipeline, t.file);
                m.statements.insert(m.statements.end(), statements.begin(), statements.end());
            }

    for (const auto& c : difference.columns) migration_of(out, c.pipeline, c.file).statements.push_back(add_column(c));
    return out;
}

}  // namespace starstream::daemon::postgres
