// The names of the session-local temp tables that stage a spec table's rows or do a merge's work
// ("stage_spec$3$fact_event", "stage_spec$7$win_visits$met", "scd2$12$dim_lab_user$input").
// No two of them may share a name, and none may be a spec table's name, for PostgreSQL would not
// say so: CREATE TEMP TABLE IF NOT EXISTS skips the second, a plain CREATE fails at start-up with
// "already exists" naming no spec key, and a temp table hides a permanent one of its name (pg_temp
// is searched first). So every name
//   - holds '$', which a spec's table names never hold (lower-case SQL names, spec_reader.cpp);
//   - starts with its prefix and a number no other call in the process gets, so that cutting it
//     at 63 bytes (NAMEDATALEN - 1: PostgreSQL cuts longer names without an error, "Identifiers
//     and Key Words" in its docs) keeps it unique; the table and role follow, for the reader.
// Thread-safe (one atomic counter); call it once per table and keep the name: each call names
// a new table.
#pragma once

#include <string>
#include <string_view>

namespace starstream::daemon::postgres {

/// The longest name PostgreSQL keeps whole (NAMEDATALEN - 1), in bytes.
inline constexpr std::size_t kMaxIdentifierBytes = 63;

/// "<prefix>$<n>$<table>$<role>", an empty `table` or `role` left out with its '$', cut at 63
/// bytes; n is this call's own number. `table` is a spec table name, or "" for a table of no spec
/// table; `prefix` and `role` are the caller's constants ([a-z0-9_]). Usable unquoted in SQL ('$'
/// may follow an identifier's first character; no name holds "$$").
std::string temp_table_name(std::string_view prefix, std::string_view table, std::string_view role = {});

}  // namespace starstream::daemon::postgres
