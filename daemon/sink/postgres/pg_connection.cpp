#include "sink/postgres/pg_connection.h"

#include <spdlog/spdlog.h>

#include <poll.h>

#include <cstdlib>
#include <thread>

namespace starstream::daemon::postgres {

namespace {

std::string trimmed(std::string message) {
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return message;
}

/// Asks the server to cancel the running command without waiting for it: libpq 15's PQcancel
/// blocks until the postmaster answers, which a frozen server never does.
void cancel_in_background(PGconn* conn) {
    PGcancel* cancel = PQgetCancel(conn);
    if (!cancel) return;
    std::thread([cancel] {
        char err[256];
        PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
    }).detach();
}

}  // namespace

bool PgError::transient() const {
    if (connection_lost_) return true;
    const std::string& s = sqlstate_;
    return s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0 || s == "57014" || s == "40001" || s == "40P01" || s.rfind("53", 0) == 0;
}

PgConnection::PgConnection(const PgSettings& settings, const std::atomic<bool>* abort_flag)
    : conn_(nullptr, &PQfinish), abort_flag_(abort_flag), statement_timeout_(settings.statement_timeout) {
    const std::string user_timeout = std::to_string(settings.statement_timeout.count() + kDeadlineMargin.count());
    // Keepalives and tcp_user_timeout come before the DSN, so that a DSN setting them wins: a
    // dead peer is noticed by the kernel in about 25 s, unacknowledged data fails the socket
    // after the client deadline.
    const char* keywords[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                              "dbname", "application_name", settings.password.empty() ? nullptr : "password", nullptr};
    const char* values[] = {"1", "10", "5", "3", user_timeout.c_str(), settings.dsn.c_str(), "starstreamd",
                            settings.password.c_str(), nullptr};
    connect(keywords, values, settings.connect_timeout);
    // Server notices ("relation already exists, skipping") go to the log, not to stderr.
    PQsetNoticeProcessor(conn_.get(), [](void*, const char* message) {
        std::string_view text(message);
        while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
        spdlog::debug("postgres: {}", text);
    }, nullptr);
    // A transaction left open by a client that vanished ends by itself too.
    const std::string timeout = std::to_string(statement_timeout_.count());
    exec("SET statement_timeout = " + timeout + "; SET idle_in_transaction_session_timeout = " + timeout);
    // No JIT: the planner estimates the batch statements from statistics-less staging tables and
    // unnested arrays, and past jit_above_cost (a session lock joining 2,500 islands to its
    // window table) compiling took 150-240 ms of a 250 ms statement whose plan ran in 15 ms
    // (auto_explain, bench/results.md "JIT off"). PostgreSQL 11 brought the setting.
    if (PQserverVersion(conn_.get()) >= 110000) exec("SET jit = off");
    if (PQsetnonblocking(conn_.get(), 1) != 0) throw PgError("cannot make the Postgres connection non-blocking", "08000", true);
}

void PgConnection::connect(const char* const* keywords, const char* const* values, std::chrono::milliseconds timeout) {
    // Non-blocking, so that the abort flag and `timeout` hold while a frozen server accepts the
    // TCP connection and never answers the start-up packet (libpq's own connect_timeout counts
    // per host and cannot be interrupted).
    conn_.reset(PQconnectStartParams(keywords, values, 1));
    const auto lost = [&] { return PgError("cannot connect to Postgres: " + trimmed(conn_ ? PQerrorMessage(conn_.get()) : "out of memory"), "08001", true); };
    if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) throw lost();
    const Deadline deadline = std::chrono::steady_clock::now() + timeout;
    for (PostgresPollingStatusType status = PGRES_POLLING_WRITING; status != PGRES_POLLING_OK; status = PQconnectPoll(conn_.get())) {
        if (status == PGRES_POLLING_FAILED) throw lost();
        try {
            wait_socket(status == PGRES_POLLING_WRITING, deadline, "cannot connect to Postgres", "postgres.connect_timeout_ms");
        } catch (const PgError& e) {
            throw PgError(e.what(), "08001", true);
        }
    }
}

void PgConnection::fail(const std::string& what, const std::string& sqlstate, bool connection_lost) {
    if (connection_lost) broken_ = true;
    throw PgError(what, sqlstate, connection_lost);
}

void PgConnection::wait_socket(bool write, Deadline deadline, const std::string& what, const char* limit) {
    using namespace std::chrono;
    for (;;) {
        if (abort_flag_ && abort_flag_->load()) {
            cancel_in_background(conn_.get());
            fail(what + ": abandoned (shutting down)", "57014", true);
        }
        const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
        if (left.count() <= 0) {
            cancel_in_background(conn_.get());
            fail(what + ": no answer from Postgres within " + limit + "; the connection is dropped", "57014", true);
        }
        pollfd fd{PQsocket(conn_.get()), static_cast<short>(POLLIN | (write ? POLLOUT : 0)), 0};
        if (fd.fd < 0) fail(what + ": connection lost", "08006", true);
        const int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
        if (ready > 0) return;
        if (ready < 0 && errno != EINTR) fail(what + ": poll failed", "08006", true);
    }
}

void PgConnection::flush(Deadline deadline, const std::string& what) {
    for (;;) {
        const int r = PQflush(conn_.get());
        if (r == 0) return;
        if (r < 0) fail(what + ": " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
        wait_socket(true, deadline, what);
        // Reading while writing: the server may be sending (an error) and waiting for us to read.
        if (PQconsumeInput(conn_.get()) == 0) fail(what + ": " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
    }
}

PgResult PgConnection::results(Deadline deadline, const std::string& what, bool until_copy_in) {
    PgResult last(nullptr, &PQclear);
    std::optional<PgError> first_error;
    for (;;) {
        while (PQisBusy(conn_.get())) {
            wait_socket(false, deadline, what);
            if (PQconsumeInput(conn_.get()) == 0) fail(what + ": " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
        }
        PGresult* raw = PQgetResult(conn_.get());
        if (!raw) break;
        PgResult result(raw, &PQclear);
        const ExecStatusType status = PQresultStatus(raw);
        if (status == PGRES_COPY_IN && until_copy_in) return result;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN) {
            last = std::move(result);
            continue;
        }
        if (!first_error) {
            const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
            // The primary message only: DETAIL and CONTEXT can quote row contents ("Failing row
            // contains ...", a key's value), which must not reach logs or /status (invariant 7).
            const char* severity = PQresultErrorField(raw, PG_DIAG_SEVERITY_NONLOCALIZED);
            const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
            const std::string message = primary ? std::string(severity ? severity : "ERROR") + ":  " + primary
                                                : trimmed(PQresultErrorMessage(raw) && *PQresultErrorMessage(raw) ? PQresultErrorMessage(raw)
                                                                                                                  : PQerrorMessage(conn_.get()));
            first_error.emplace(what + ": " + message, state ? state : "", PQstatus(conn_.get()) != CONNECTION_OK);
        }
    }
    if (PQstatus(conn_.get()) != CONNECTION_OK) broken_ = true;
    if (first_error) throw *first_error;
    return last;
}

PgResult PgConnection::exec(const std::string& sql) {
    if (!PQsendQuery(conn_.get(), sql.c_str())) fail("SQL failed: " + trimmed(PQerrorMessage(conn_.get())), "08006", PQstatus(conn_.get()) != CONNECTION_OK);
    const auto until = deadline();
    flush(until, "SQL failed");
    return results(until, "SQL failed");
}

PgResult PgConnection::exec_params(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0))
        fail("SQL failed: " + trimmed(PQerrorMessage(conn_.get())), "08006", PQstatus(conn_.get()) != CONNECTION_OK);
    const auto until = deadline();
    flush(until, "SQL failed");
    return results(until, "SQL failed");
}

std::int64_t PgConnection::copy_in(const std::string& copy_sql, std::string_view data) {
    const auto until = deadline();
    if (!PQsendQuery(conn_.get(), copy_sql.c_str())) fail("COPY failed to start: " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
    flush(until, "COPY failed to start");
    results(until, "COPY failed to start", true);
    // Send in 1 MiB pieces: libpq buffers each call whole. 0 means its buffer is full: wait.
    constexpr std::size_t kChunk = 1 << 20;
    for (std::size_t at = 0; at < data.size();) {
        const std::size_t n = std::min(kChunk, data.size() - at);
        const int r = PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(n));
        if (r < 0) fail("COPY data failed: " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
        if (r == 0) {
            wait_socket(true, until, "COPY data");
            continue;
        }
        at += n;
    }
    for (;;) {
        const int r = PQputCopyEnd(conn_.get(), nullptr);
        if (r < 0) fail("COPY end failed: " + trimmed(PQerrorMessage(conn_.get())), "08006", true);
        if (r == 1) break;
        wait_socket(true, until, "COPY end");
    }
    flush(until, "COPY failed");
    return affected_rows(results(until, "COPY failed"));
}

std::int64_t affected_rows(const PgResult& result) {
    if (!result) return 0;
    const char* n = PQcmdTuples(result.get());
    return (n && *n) ? std::atoll(n) : 0;
}

bool caused_by_records(const PgError& error) {
    const std::string& s = error.sqlstate();
    // 54: program limit exceeded, e.g. a key too long for its index ("index row requires ...").
    return !error.transient() && (s.rfind("22", 0) == 0 || s.rfind("23", 0) == 0 || s.rfind("54", 0) == 0);
}

}  // namespace starstream::daemon::postgres
