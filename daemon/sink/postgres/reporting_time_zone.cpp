#include "sink/postgres/reporting_time_zone.h"

#include "config/config.h"

namespace starstream::daemon::postgres {

void pin_reporting_time_zone(PgConnection& conn, const std::string& time_zone) {
    conn.exec("BEGIN");
    try {
        PgResult recorded = conn.exec("SELECT value FROM starstream.setting WHERE name = 'reporting_time_zone' FOR UPDATE");
        if (PQntuples(recorded.get()) == 1 && PQgetvalue(recorded.get(), 0, 0) != time_zone) {
            const std::string old_zone = PQgetvalue(recorded.get(), 0, 0);
            if (PQntuples(conn.exec("SELECT 1 FROM fact_event LIMIT 1").get()) > 0)
                throw ConfigError("time.reporting_time_zone",
                                  "is '" + time_zone + "' but the stored facts' date_key and hour are in '" + old_zone +
                                      "'; keep '" + old_zone + "', or rebuild the facts (README, \"Reporting time zone\")");
        }
        conn.exec_params(
            "INSERT INTO starstream.setting (name, value) VALUES ('reporting_time_zone', $1)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()"
            " WHERE starstream.setting.value IS DISTINCT FROM excluded.value",
            {time_zone});
        conn.exec("COMMIT");
    } catch (...) {
        if (conn.ok()) conn.exec("ROLLBACK");
        throw;
    }
}

}  // namespace starstream::daemon::postgres
