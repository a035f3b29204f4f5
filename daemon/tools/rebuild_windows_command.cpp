#include "tools/rebuild_windows_command.h"

#include "sink/postgres/migrator.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/pg_settings.h"
#include "sink/postgres/window_lock.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace starstream::daemon::tools {

namespace {

/// The tables the rebuild writes, in the order they are reported.
constexpr const char* kTables[] = {"win_hourly_product_views", "win_hourly_product_views_visitors_members", "win_product_view_panes",
                                   "win_visits"};

/// Rebuilds under the window merge lock and returns the row count of each of kTables, all in
/// the transaction it commits.
std::vector<std::int64_t> rebuild_in_transaction(postgres::PgConnection& conn, std::int64_t visit_gap_us) {
    std::vector<std::int64_t> counts;
    // READ COMMITTED whatever the server's default: the rebuild must read fact_event as of after
    // the lock, including the facts of the batch that held it; a REPEATABLE READ snapshot would
    // be taken by the lock statement itself, before the wait.
    conn.exec(postgres::kBeginReadCommitted);
    try {
        conn.exec(postgres::kWindowMergeLock);
        // Microseconds: an interval without days or months, so no session time zone is involved.
        conn.exec_params("SELECT starstream.rebuild_windows($1::interval)", {std::to_string(visit_gap_us) + " microseconds"});
        for (const char* table : kTables) {
            postgres::PgResult rows = conn.exec(std::string("SELECT count(*) FROM ") + table);
            counts.push_back(std::atoll(PQgetvalue(rows.get(), 0, 0)));
        }
        conn.exec("COMMIT");
    } catch (...) {
        if (conn.ok()) conn.exec("ROLLBACK");
        throw;
    }
    return counts;
}

}  // namespace

void rebuild_windows(const Config& config, std::int64_t gap_us, std::ostream& out) {
    postgres::PgConnection conn(pg_settings(config));
    const auto applied = postgres::apply_migrations(conn, postgres::read_migrations(config.migrations_dir));
    spdlog::info("schema up to date ({} migration(s) applied)", applied.size());
    const auto started = std::chrono::steady_clock::now();
    const auto counts = rebuild_in_transaction(conn, gap_us);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    spdlog::info("windowed tables rebuilt from fact_event in {} ms", elapsed.count());
    out << "windowed tables rebuilt from fact_event (visit gap " << gap_us / 1000 << " ms), rows:\n";
    for (std::size_t i = 0; i < counts.size(); ++i) out << fmt::format("  {:<38} {:>12}\n", kTables[i], counts[i]);
}

std::string rebuild_windows_usage() {
    return "Windowed tables:\n"
           "  starstreamd rebuild-windows --config FILE\n"
           "      recomputes win_hourly_product_views, win_product_view_panes and win_visits from fact_event (without the\n"
           "      events starstream.late_event lists for each) with the visit gap of product_view's spec (windows.visit_gap_ms\n"
           "      with pipelines.compiled = product_view), under the window merge lock;\n"
           "      prints the row counts; exit 3 when Postgres is unreachable or refuses (nothing changed). One statement:\n"
           "      raise postgres.statement_timeout_ms for a large fact_event\n";
}

}  // namespace starstream::daemon::tools
