#include "sink/postgres/spec_migrator.h"

#include "sink/postgres/migration_lock.h"
#include "sink/postgres/scd2_dimensions.h"
#include "sink/postgres/schema_check.h"
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <spdlog/spdlog.h>

namespace starstream::daemon::postgres {

namespace {

/// Runs `check` in a savepoint; a refusal is the spec's mistake: a SpecError naming its file,
/// line and key, with PostgreSQL's message (the caller rolls the spec's transaction back).
void run_check(PgConnection& conn, const SpecMigration& m, const SpecCheck& check) {
    conn.exec("SAVEPOINT spec_check");
    try {
        conn.exec(check.sql);
    } catch (const PgError& e) {
        throw spec::SpecError(m.file, check.line, check.column, check.key, std::string("PostgreSQL refuses the expression: ") + e.what());
    }
    conn.exec("RELEASE SAVEPOINT spec_check");
}

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
            for (const auto& check : s.checks) run_check(conn, m, check);
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
    for (const auto& s : specs) {
        auto side_tables = spec::distinct_member_tables(s);  // and mode's occurrence tables, alike
        for (auto& t : spec::mode_count_tables(s)) side_tables.push_back(std::move(t));
        for (auto& t : side_tables) {
            // t.key is "windows.<window table>.aggregates.<column>" (table_schema.h).
            const std::string window = t.key.substr(8, t.key.find(".aggregates.") - 8);
            const bool missing = std::string(PQgetvalue(conn.exec_params("SELECT to_regclass($1) IS NULL", {sql_identifier(t.table)}).get(), 0, 0)) == "t";
            if (missing && (new_windows.count(window) || spec_made(window))) difference.tables.push_back({s.name, s.file, std::move(t)});
        }
    }
    auto migrations = spec_ddl(difference, scd2_dimensions(specs));
    // Views last (after the columns they select are added): made again when the statement differs
    // from the one last applied, or the view is missing.
    for (const auto& s : specs)
        for (const auto& w : s.windows) {
            auto statements = create_view(s, w);
            if (statements.empty()) continue;
            const std::string& create = statements.back().sql;
            const bool exists = std::string(PQgetvalue(conn.exec_params("SELECT to_regclass($1) IS NOT NULL", {sql_identifier(w.view.name)}).get(), 0, 0)) == "t";
            const bool same = recorded && PQntuples(conn.exec_params("SELECT 1 FROM (SELECT statement FROM starstream.spec_migration WHERE target = $1"
                                                                     " ORDER BY id DESC LIMIT 1) last WHERE statement = $2",
                                                                     {w.view.name, create})
                                                        .get()) > 0;
            if (exists && same) continue;
            auto m = std::find_if(migrations.begin(), migrations.end(), [&](const SpecMigration& x) { return x.file == s.file; });
            if (m == migrations.end()) m = migrations.insert(migrations.end(), SpecMigration{s.name, s.file, {}});
            m->statements.insert(m->statements.end(), statements.begin(), statements.end());
        }
    return migrations;
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
