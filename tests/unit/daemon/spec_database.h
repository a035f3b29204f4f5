// A new database on the tests' PostgreSQL server holding a spec's tables as its migrations make
// them (spec_ddl.h create_table), and a connection to it in UTC: the setup of the spec writers'
// tests against a real database.
// Thread rules: the test's main thread. Errors: PgError from the statements.
#pragma once

#include "local_postgres_server.h"
#include "sink/postgres/spec_ddl.h"
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

}  // namespace starstream::test
