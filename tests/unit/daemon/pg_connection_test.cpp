// The session settings every daemon connection makes, against a real PostgreSQL: the statement
// and idle-in-transaction timeouts of the configuration, and no JIT (pg_connection.cpp says why),
// whatever the server's default.
#include "sink/postgres/pg_connection.h"

#include "local_postgres_server.h"

#include <gtest/gtest.h>

#include <string>

namespace starstream::daemon::postgres {
namespace {

/// `column` of pg_settings for parameter `name`, as this session sees it.
std::string setting(PgConnection& conn, const std::string& name, const std::string& column) {
    const PgResult r = conn.exec_params("SELECT " + column + " FROM pg_settings WHERE name = $1", {name});
    return PQntuples(r.get()) == 1 ? PQgetvalue(r.get(), 0, 0) : "";
}

TEST(PgConnection, SessionHasTheTimeoutsAndNoJit) {
    PgSettings settings;
    // The session starts with JIT on (as PostgreSQL 15's default), also where the server is set otherwise.
    settings.dsn = test::LocalPostgresServer::shared().create_database("pg_connection_settings") + " options='-c jit=on'";
    settings.statement_timeout = std::chrono::milliseconds(12345);
    PgConnection conn(settings);
    ASSERT_EQ(setting(conn, "jit", "reset_val"), "on");
    EXPECT_EQ(setting(conn, "jit", "setting"), "off");
    EXPECT_EQ(setting(conn, "statement_timeout", "setting"), "12345");
    EXPECT_EQ(setting(conn, "idle_in_transaction_session_timeout", "setting"), "12345");
}

}  // namespace
}  // namespace starstream::daemon::postgres
