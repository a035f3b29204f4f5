// Applies sql/migrations/NNN_*.sql in order, each in its own transaction, and records them
// in starstream.schema_migration. Serialised across instances by a Postgres advisory lock
// (migration_lock.h), so that several daemons starting at once apply each migration exactly once.
// Thread rules: one thread; uses the connection it is given.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

struct Migration {
    int version;       ///< NNN of the file name
    std::string name;  ///< file name
    std::string sql;
};

/// Reads NNN_*.sql files of `dir`, sorted by version. Throws std::runtime_error on an unreadable
/// folder, a file name without a number, or two files with the same number.
std::vector<Migration> read_migrations(const std::string& dir);

/// The names of `migrations` not recorded as applied (all when the record table does not exist
/// yet); writes nothing (check-config). Throws PgError.
std::vector<std::string> pending_migrations(PgConnection& conn, const std::vector<Migration>& migrations);

/// Applies the migrations that are not yet recorded; returns the names applied (maybe none).
/// Throws PgError when a migration fails (its transaction is rolled back).
std::vector<std::string> apply_migrations(PgConnection& conn, const std::vector<Migration>& migrations);

}  // namespace starstream::daemon::postgres
