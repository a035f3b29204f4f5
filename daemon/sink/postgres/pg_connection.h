// A libpq connection with the few intents the sink needs: run SQL, run SQL with text
// parameters, stream a binary COPY.
//
// Why libpq and not libpqxx here: libpqxx 6.4 (bookworm) has no binary COPY and keeps its
// PGconn private, and COPY must share the batch's transaction with the merges.
// Errors: every failure throws PgError carrying the SQLSTATE; `transient()` tells a lost
// connection or a serialization failure (retry the batch) from a data or schema error.
// Thread rules: one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::postgres {

class PgError : public std::runtime_error {
public:
    PgError(const std::string& message, std::string sqlstate, bool connection_lost)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
    const std::string& sqlstate() const { return sqlstate_; }
    /// True when retrying the same work later may succeed (connection lost, server shutting
    /// down, serialization failure, deadlock): classes 08, 57P, 40001, 40P01, 53.
    bool transient() const;

private:
    std::string sqlstate_;
    bool connection_lost_;
};

using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// How to reach the database: a libpq DSN, a connect timeout, and a password that overrides
/// any in the DSN when not empty (postgres.password_file).
struct PgSettings {
    std::string dsn;
    std::chrono::milliseconds connect_timeout{10000};
    std::string password;
};

class PgConnection {
public:
    /// Connects within `timeout`; throws PgError (transient) naming host and port, never the password.
    explicit PgConnection(const PgSettings& settings);
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    /// Runs one or more statements without parameters; returns the last result.
    PgResult exec(const std::string& sql);
    /// Runs one statement with text parameters (NULL for std::nullopt-like empty optional not needed here).
    PgResult exec_params(const std::string& sql, const std::vector<std::string>& params);
    /// COPY ... FROM STDIN (FORMAT binary) with `data` as the whole stream; returns rows copied.
    std::int64_t copy_in(const std::string& copy_sql, std::string_view data);
    bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }

private:
    PgResult check(PGresult* result, const std::string& what);
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

/// Number of rows a command touched (PQcmdTuples), 0 if none.
std::int64_t affected_rows(const PgResult& result);

}  // namespace starstream::daemon::postgres
