// The unique keys a database enforces on tables, read from the catalog: what schema_check.h
// compares with the keys a spec's tables need (spec/table_schema.h). A key is a valid, unique,
// non-partial index (a PRIMARY KEY or UNIQUE constraint, or a CREATE UNIQUE INDEX) and the set
// of columns it covers: its key columns, not its INCLUDE columns; for an index on expressions,
// the columns they read (dim_user_agent's UNIQUE (md5(user_agent)) covers user_agent: at
// least as strict as UNIQUE (user_agent), which is what the natural key needs). Partial
// indexes (an SCD type 2 current-version index) are no key of the whole table.
// Thread rules: the caller's connection, one thread.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

struct UniqueKey {
    std::string index;  ///< the index's name, e.g. "dim_store_store_id_key"
    bool primary = false;
    std::set<std::string> columns;
};

/// The unique keys of each of `tables` (names resolved as unqualified SQL resolves them, through
/// search_path); a table that does not exist or has no key is absent. Throws PgError.
std::map<std::string, std::vector<UniqueKey>> read_unique_keys(PgConnection& conn, const std::vector<std::string>& tables);

/// The ON CONFLICT target of `table`'s unique key that covers exactly `columns` (a non-primary
/// one first): its key columns and expressions as SQL, "store_id" or "md5(user_agent)", so that a
/// merge infers the index the database has; "" when no key covers them. Throws PgError.
std::string conflict_target(PgConnection& conn, const std::string& table, const std::set<std::string>& columns);

/// "(a, b)" for messages.
std::string describe_columns(const std::set<std::string>& columns);

}  // namespace starstream::daemon::postgres
