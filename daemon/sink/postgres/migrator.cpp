#include "sink/postgres/migrator.h"

#include "sink/postgres/migration_lock.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace starstream::daemon::postgres {

std::vector<Migration> read_migrations(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw std::runtime_error("migrations folder '" + dir + "' does not exist (postgres.migrations_dir)");
    static const std::regex pattern(R"(^(\d+)_[A-Za-z0-9_]+\.sql$)");
    std::vector<Migration> migrations;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".sql") continue;
        std::smatch m;
        if (!std::regex_match(name, m, pattern)) throw std::runtime_error("migration '" + name + "' is not named NNN_name.sql");
        std::ifstream in(entry.path());
        std::stringstream sql;
        sql << in.rdbuf();
        if (!in) throw std::runtime_error("cannot read migration " + entry.path().string());
        migrations.push_back({std::stoi(m[1]), name, sql.str()});
    }
    std::sort(migrations.begin(), migrations.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < migrations.size(); ++i)
        if (migrations[i].version == migrations[i - 1].version)
            throw std::runtime_error("migrations " + migrations[i - 1].name + " and " + migrations[i].name + " share a number");
    return migrations;
}

std::vector<std::string> pending_migrations(PgConnection& conn, const std::vector<Migration>& migrations) {
    std::set<int> done;
    PgResult exists = conn.exec("SELECT to_regclass('starstream.schema_migration') IS NOT NULL");
    if (PQgetvalue(exists.get(), 0, 0)[0] == 't') {
        PgResult rows = conn.exec("SELECT version FROM starstream.schema_migration");
        for (int i = 0; i < PQntuples(rows.get()); ++i) done.insert(std::atoi(PQgetvalue(rows.get(), i, 0)));
    }
    std::vector<std::string> out;
    for (const auto& m : migrations)
        if (!done.count(m.version)) out.push_back(m.name);
    return out;
}

std::vector<std::string> apply_migrations(PgConnection& conn, const std::vector<Migration>& migrations) {
    const MigrationLock lock(conn);
    std::vector<std::string> applied;
    conn.exec(
        "CREATE SCHEMA IF NOT EXISTS starstream;"
        "CREATE TABLE IF NOT EXISTS starstream.schema_migration ("
        " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    std::set<int> done;
    PgResult rows = conn.exec("SELECT version FROM starstream.schema_migration");
    for (int i = 0; i < PQntuples(rows.get()); ++i) done.insert(std::atoi(PQgetvalue(rows.get(), i, 0)));
    for (const auto& m : migrations) {
        if (done.count(m.version)) continue;
        spdlog::info("applying migration {}", m.name);
        conn.exec("BEGIN");
        try {
            conn.exec(m.sql);
            conn.exec_params("INSERT INTO starstream.schema_migration (version, name) VALUES ($1, $2)", {std::to_string(m.version), m.name});
            conn.exec("COMMIT");
        } catch (...) {
            if (conn.ok()) conn.exec("ROLLBACK");
            throw;
        }
        applied.push_back(m.name);
    }
    return applied;
}

}  // namespace starstream::daemon::postgres
