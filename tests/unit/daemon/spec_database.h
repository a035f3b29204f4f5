// A new database on the tests' PostgreSQL server holding a spec's tables as its migrations make
// them (spec_ddl.h create_table), and a connection to it in UTC: the setup of the spec writers'
// tests against a real database.
// Thread rules: the test's main thread. Errors: PgError from the statements.
#pragma once

#include "local_postgres_server.h"
#include "sink/postgres/migrator.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/spec_migrator.h"
#include "spec/table_schema.h"

#include <memory>
#include <string>

namespace starstream::test {

inline std::unique_ptr<daemon::postgres::PgConnection> spec_database(const std::string& name, const daemon::spec::PipelineSpec& spec) {
    daemon::postgres::PgSettings settings;
    settings.dsn = LocalPostgresServer::shared().create_database(name);
    auto conn = std::make_unique<daemon::postgres::PgConnection>(settings);
    conn->exec("SET TIME ZONE 'UTC'");
    for (const auto& t : daemon::spec::table_schemas(spec))
        for (const auto& statement : daemon::postgres::create_table(t)) conn->exec(statement.sql);
    return conn;
}

/// Migrates `conn`'s database as the daemon does: sql/migrations, then `spec`'s own migrations
/// (spec_migrator.h). Errors: PgError, std::runtime_error from the migrators.
inline void migrate_as_the_daemon(daemon::postgres::PgConnection& conn, const daemon::spec::PipelineSpec& spec) {
    daemon::postgres::apply_migrations(conn, daemon::postgres::read_migrations(std::string(STARSTREAM_SOURCE_DIR) + "/sql/migrations"));
    daemon::postgres::apply_spec_migrations(conn, {spec});
}

/// A new database `name` migrated as the daemon migrates it for `spec`, and a connection to it
/// in UTC. Errors: as migrate_as_the_daemon.
inline std::unique_ptr<daemon::postgres::PgConnection> migrated_spec_database(const std::string& name, const daemon::spec::PipelineSpec& spec) {
    daemon::postgres::PgSettings settings;
    settings.dsn = LocalPostgresServer::shared().create_database(name);
    auto conn = std::make_unique<daemon::postgres::PgConnection>(settings);
    conn->exec("SET TIME ZONE 'UTC'");
    migrate_as_the_daemon(*conn, spec);
    return conn;
}

}  // namespace starstream::test
