// A libpq connection with the few intents the sink needs: run SQL, run SQL with text
// parameters, stream a binary COPY.
//
// Every call has a deadline (PgSettings::statement_timeout plus a margin, also set as the
// server's statement_timeout) and can be abandoned from another thread (`abort_flag`): libpq
// runs non-blocking and each wait is a poll() of at most 100 ms. A server that stops answering
// (a frozen backend, a network partition: TCP keepalives and tcp_user_timeout are on) therefore
// never holds a thread past the deadline, nor a shutdown past its own. A call that missed its
// deadline or was abandoned asks the server to cancel (PQcancel, on a detached thread since
// libpq 15's cancel has no timeout of its own) and leaves the connection broken: make a new one.
//
// Why libpq and not libpqxx here: libpqxx 6.4 (bookworm) has no binary COPY and keeps its
// PGconn private, and COPY must share the batch's transaction with the merges.
// Errors: every failure throws PgError carrying the SQLSTATE; `transient()` tells a lost
// connection or a serialization failure (retry the batch) from a data or schema error.
// Thread rules: one thread at a time.
#pragma once

#include "checkpoint/checkpoint_store.h"
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::postgres {

class PgError : public engine::StoreError {
public:
    PgError(const std::string& message, std::string sqlstate, bool connection_lost)
        : engine::StoreError(message), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
    const std::string& sqlstate() const { return sqlstate_; }
    /// True when retrying the same work later may succeed (connection lost, server shutting
    /// down, serialization failure, deadlock): classes 08, 57P, 40001, 40P01, 53.
    bool transient() const override;

private:
    std::string sqlstate_;
    bool connection_lost_;
};

/// The first line of an error's text (libpq's messages may go on with DETAIL and CONTEXT lines).
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

/// Whether a permanent error can come from the values of a record: classes 22 (data
/// exception), 23 (integrity constraint) and 54 (program limit, such as an index row too large).
bool caused_by_records(const PgError& error);

using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// How to reach the database: a libpq DSN, a connect timeout, and a password that overrides
/// any in the DSN when not empty (postgres.password_file).
struct PgSettings {
    std::string dsn;
    std::chrono::milliseconds connect_timeout{10000};
    std::string password;
    std::chrono::milliseconds statement_timeout{60000};  ///< server statement_timeout; client deadline adds kDeadlineMargin
};

/// How long past the server's statement_timeout the client still waits for an answer.
inline constexpr std::chrono::milliseconds kDeadlineMargin{5000};

class PgConnection {
public:
    /// Connects within `settings.connect_timeout`; throws PgError (transient) naming host and
    /// port, never the password. `abort_flag` (may be null, must outlive the connection): when it
    /// turns true, a call in progress throws PgError (transient, SQLSTATE 57014) within 100 ms.
    explicit PgConnection(const PgSettings& settings, const std::atomic<bool>* abort_flag = nullptr);
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    /// Runs one or more statements without parameters; returns the last result.
    PgResult exec(const std::string& sql);
    /// Runs one statement with text parameters (NULL for std::nullopt-like empty optional not needed here).
    PgResult exec_params(const std::string& sql, const std::vector<std::string>& params);
    /// COPY ... FROM STDIN (FORMAT binary) with `data` as the whole stream; returns rows copied.
    std::int64_t copy_in(const std::string& copy_sql, std::string_view data);
    /// The server process serving this connection.
    int backend_pid() const { return PQbackendPID(conn_.get()); }
    /// False once the connection is lost or a call was abandoned mid-protocol.
    bool ok() const { return !broken_ && PQstatus(conn_.get()) == CONNECTION_OK; }

private:
    using Deadline = std::chrono::steady_clock::time_point;
    Deadline deadline() const { return std::chrono::steady_clock::now() + statement_timeout_ + kDeadlineMargin; }
    /// Waits until the socket is readable (and writable, with `write`), the deadline passes or
    /// the abort flag is set; throws PgError in the last two cases.
    void wait_socket(bool write, Deadline deadline, const std::string& what,
                     const char* limit = "postgres.statement_timeout_ms + 5000 ms");
    /// Connects within `timeout`, honouring the abort flag; throws PgError (transient, 08001).
    void connect(const char* const* keywords, const char* const* values, std::chrono::milliseconds timeout);
    /// Sends whatever libpq has buffered.
    void flush(Deadline deadline, const std::string& what);
    /// Collects every result of the command sent last; throws PgError for the first failed one.
    PgResult results(Deadline deadline, const std::string& what, bool until_copy_in = false);
    [[noreturn]] void fail(const std::string& what, const std::string& sqlstate, bool connection_lost);

    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
    const std::atomic<bool>* abort_flag_;
    std::chrono::milliseconds statement_timeout_;
    bool broken_ = false;
};

/// Number of rows a command touched (PQcmdTuples), 0 if none.
std::int64_t affected_rows(const PgResult& result);

}  // namespace starstream::daemon::postgres
