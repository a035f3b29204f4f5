// `starstreamd rebuild-windows`: recomputes the windowed tables (win_hourly_product_views with
// win_hourly_product_views_visitors_members, win_product_view_panes, win_visits) from fact_event,
// leaving out the events starstream.late_event lists for each table, with the configured visit
// gap (windows.visit_gap_ms). Migration 005 rebuilds them once with the default gap; run this
// after it when the gap is another, or whenever the tables should be recomputed from the facts.
//
// Applies pending migrations first (as `run` and `migrate` do), then runs the SQL function
// starstream.rebuild_windows in one transaction that holds the window merge lock
// (sink/postgres/window_lock.h): running daemons keep committing facts, and their window merges
// wait for the rebuild and then add to the rebuilt tables. The whole rebuild is one statement,
// so a large fact_event may need a larger postgres.statement_timeout_ms for this command.
//
// Thread rules: runs on the main thread; nothing runs concurrently.
#pragma once

#include "config/config.h"

#include <cstdint>
#include <ostream>
#include <string>

namespace starstream::daemon::tools {

/// Runs the command with visits of `gap_us` microseconds (pipeline::rebuild_visit_gap_us) and
/// writes the row count of each rebuilt table to `out`. Throws postgres::PgError when Postgres
/// is unreachable or refuses (the transaction is rolled back: nothing changed),
/// std::runtime_error when the migrations cannot be read.
void rebuild_windows(const Config& config, std::int64_t gap_us, std::ostream& out);

/// The command's paragraph of `starstreamd --help`.
std::string rebuild_windows_usage();

}  // namespace starstream::daemon::tools
