// The names of the session-local temp tables that stage a spec table's rows or do a merge's work
// ("stage_spec_fact_event", "stage_spec_win_visits$met", "scd2_dim_lab_user$input").
// Two rules keep two of them from ever sharing a name, which PostgreSQL would not report
// (CREATE TEMP TABLE IF NOT EXISTS skips the second; a plain CREATE fails at start-up with
// "already exists", naming no spec key):
//   - a role is appended after '$', a character a spec's table names never hold (lower-case SQL
//     names, spec_reader.cpp), so "t" in role "met" is never the table "t_met";
//   - PostgreSQL cuts a name at 63 bytes without an error (NAMEDATALEN - 1, "Identifiers and
//     Key Words" in its docs), so a longer name keeps its first 46 bytes and ends with '$' and
//     16 hex digits of std::hash of the whole name: unique within the process, which is all a
//     session-local name needs.
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace starstream::daemon::postgres {

/// The longest name PostgreSQL keeps whole (NAMEDATALEN - 1), in bytes.
inline constexpr std::size_t kMaxIdentifierBytes = 63;

/// "<prefix><table>", or "<prefix><table>$<role>" when `role` is not empty; at most 63 bytes
/// (see above). `table` is a spec table name; `prefix` and `role` are the caller's constants
/// ([a-z0-9_]). Usable unquoted in SQL ('$' may follow the first character of an identifier).
std::string temp_table_name(std::string_view prefix, std::string_view table, std::string_view role = {});

}  // namespace starstream::daemon::postgres
