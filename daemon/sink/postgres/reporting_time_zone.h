// The time zone of fact_event.date_key and hour is part of the stored data: it is recorded in
// starstream.setting (name 'reporting_time_zone') and may not change while facts exist.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <string>

namespace starstream::daemon::postgres {

/// Records `time_zone` (an IANA name) on first use, or checks it against the recorded one.
/// Throws ConfigError naming time.reporting_time_zone when they differ and fact_event has
/// rows; with no facts yet the new zone replaces the old. Throws PgError when Postgres fails.
void pin_reporting_time_zone(PgConnection& conn, const std::string& time_zone);

}  // namespace starstream::daemon::postgres
