#include "sink/postgres/spec_migrator.h"

#include "sink/postgres/migration_lock.h"
#include "sink/postgres/scd2_dimensions.h"
#include "sink/postgres/schema_check.h"
#include "spec/table_schema.h"

#include <fmt/format.h>

#include <set>
#include <spdlog/spdlog.h>

namespace starstream::daemon::postgres {

namespace {

/// One spec's statements and their records, in one transaction.
void apply_one(PgConnection& conn, const SpecMigration& m) {
    spdlog::info("applying {} statement(s) generated from pipeline spec {} ({})", m.statements.size(), m.pipeline, m.file);
    conn.exec("BEGIN");
    try {
        for (const auto& s : m.statements) {
            std::string one_line = s.sql;  // a log line per statement (journald, log.format = json)
            for (auto at = one_line.find("\n    "); at != std::string::npos; at = one_line.find("\n    ")) one_line.replace(at, 5, " ");
            for (auto at = one_line.find('\n'); at != std::string::npos; at = one_line.find('\n')) one_line.replace(at, 1, " ");
            spdlog::info("spec migration {}: {}", s.target, one_line);
            conn.exec(s.sql);
            conn.exec_params("INSERT INTO starstream.spec_migration (pipeline, spec_file, target, statement) VALUES ($1, $2, $3, $4)",
                             {m.pipeline, m.file, s.target, s.sql});
        }
        conn.exec("COMMIT");
    } catch (...) {
        if (conn.ok()) conn.exec("ROLLBACK");
        throw;
    }
}

}  // namespace

std::vector<SpecMigration> plan_spec_migrations(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs) {
    SchemaDifference difference = compare_schema(conn, specs);
    // count_distinct's member tables: made with a new window table, or when the aggregate is
    // added to a window table an earlier spec migration made (its counts then start with the
    // members it sees from now on). A window table of the SQL migrations (a compiled
    // pipeline's) keeps its distinct members its own way.
    std::set<std::string> new_windows;
    for (const auto& t : difference.tables) new_windows.insert(t.schema.table);
    const bool recorded = std::string(PQgetvalue(conn.exec("SELECT to_regclass('starstream.spec_migration') IS NOT NULL").get(), 0, 0)) == "t";
    auto spec_made = [&](const std::string& table) {
        return recorded && PQntuples(conn.exec_params("SELECT 1 FROM starstream.spec_migration WHERE target = $1", {table}).get()) > 0;
    };
    for (const auto& s : specs)
        for (auto& t : spec::distinct_member_tables(s)) {
            // t.key is "windows.<window table>.aggregates.<column>" (table_schema.h).
            const std::string window = t.key.substr(8, t.key.find(".aggregates.") - 8);
            const bool missing = std::string(PQgetvalue(conn.exec_params("SELECT to_regclass($1) IS NULL", {sql_identifier(t.table)}).get(), 0, 0)) == "t";
            if (missing && (new_windows.count(window) || spec_made(window))) difference.tables.push_back({s.name, s.file, std::move(t)});
        }
    return spec_ddl(difference, scd2_dimensions(specs));
}

std::vector<SpecMigration> apply_spec_migrations(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs) {
    const MigrationLock lock(conn);
    // Made here, as migrator.cpp makes starstream.schema_migration, rather than by an SQL
    // migration: the record must exist whatever postgres.migrations_dir holds.
    conn.exec(R"SQL(
CREATE SCHEMA IF NOT EXISTS starstream;
CREATE TABLE IF NOT EXISTS starstream.spec_migration (
    id          bigserial PRIMARY KEY,
    pipeline    text NOT NULL,         -- the spec's pipeline name
    spec_file   text NOT NULL,         -- the file it was read from (pipelines.dir/...)
    target      text NOT NULL,         -- the table, or table.column, it changed
    statement   text NOT NULL,         -- as applied
    applied_at  timestamptz NOT NULL DEFAULT now()
))SQL");
    const auto migrations = plan_spec_migrations(conn, specs);  // inside the lock: what another instance applied is seen
    for (const auto& m : migrations) apply_one(conn, m);
    return migrations;
}

std::string describe(const std::vector<SpecMigration>& migrations) {
    std::string out;
    for (const auto& m : migrations) {
        out += fmt::format("-- {} ({})\n", m.pipeline, m.file);
        for (const auto& s : m.statements) out += s.sql + ";\n";
    }
    return out;
}

}  // namespace starstream::daemon::postgres
