// The Postgres connection settings of a configuration.
#pragma once

#include "config/config.h"
#include "sink/postgres/pg_connection.h"

namespace starstream::daemon {

inline postgres::PgSettings pg_settings(const Config& config) {
    return {config.postgres_dsn, config.postgres_connect_timeout, config.postgres_password, config.postgres_statement_timeout};
}

}  // namespace starstream::daemon
