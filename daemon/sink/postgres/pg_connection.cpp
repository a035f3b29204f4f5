#include "sink/postgres/pg_connection.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace starstream::daemon::postgres {

bool PgError::transient() const {
    if (connection_lost_) return true;
    const std::string& s = sqlstate_;
    return s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0 || s == "40001" || s == "40P01" || s.rfind("53", 0) == 0;
}

PgConnection::PgConnection(const PgSettings& settings) : conn_(nullptr, &PQfinish) {
    const std::string seconds = std::to_string(std::max<long long>(1, (settings.connect_timeout.count() + 999) / 1000));
    const char* keywords[] = {"dbname", "connect_timeout", "application_name", settings.password.empty() ? nullptr : "password", nullptr};
    const char* values[] = {settings.dsn.c_str(), seconds.c_str(), "starstreamd", settings.password.c_str(), nullptr};
    conn_.reset(PQconnectdbParams(keywords, values, 1));
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
        std::string message = conn_ ? PQerrorMessage(conn_.get()) : "out of memory";
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        throw PgError("cannot connect to Postgres: " + message, "08001", true);
    }
    // Server notices ("relation already exists, skipping") go to the log, not to stderr.
    PQsetNoticeProcessor(conn_.get(), [](void*, const char* message) {
        std::string_view text(message);
        while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
        spdlog::debug("postgres: {}", text);
    }, nullptr);
}

PgResult PgConnection::check(PGresult* raw, const std::string& what) {
    PgResult result(raw, &PQclear);
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN) return result;
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string message = PQerrorMessage(conn_.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    throw PgError(what + ": " + message, state ? state : "", PQstatus(conn_.get()) != CONNECTION_OK);
}

PgResult PgConnection::exec(const std::string& sql) { return check(PQexec(conn_.get(), sql.c_str()), "SQL failed"); }

PgResult PgConnection::exec_params(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
                 "SQL failed");
}

std::int64_t PgConnection::copy_in(const std::string& copy_sql, std::string_view data) {
    check(PQexec(conn_.get(), copy_sql.c_str()), "COPY failed to start");
    // Send in 1 MiB pieces: libpq buffers each call whole.
    constexpr std::size_t kChunk = 1 << 20;
    for (std::size_t at = 0; at < data.size(); at += kChunk) {
        const std::size_t n = std::min(kChunk, data.size() - at);
        if (PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(n)) != 1)
            throw PgError(std::string("COPY data failed: ") + PQerrorMessage(conn_.get()), "", PQstatus(conn_.get()) != CONNECTION_OK);
    }
    if (PQputCopyEnd(conn_.get(), nullptr) != 1)
        throw PgError(std::string("COPY end failed: ") + PQerrorMessage(conn_.get()), "", PQstatus(conn_.get()) != CONNECTION_OK);
    PgResult last(nullptr, &PQclear);
    while (PGresult* r = PQgetResult(conn_.get())) last = check(r, "COPY failed");
    return affected_rows(last);
}

std::int64_t affected_rows(const PgResult& result) {
    if (!result) return 0;
    const char* n = PQcmdTuples(result.get());
    return (n && *n) ? std::atoll(n) : 0;
}

}  // namespace starstream::daemon::postgres
