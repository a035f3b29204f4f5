// The Postgres advisory lock that serialises schema changes across every starstreamd starting at
// once: the SQL migrations (migrator.h) and the migrations generated from specs
// (spec_migrator.h) are each applied by one instance while the others wait, then find nothing
// left to do. A session lock, held across the transactions it covers.
// Thread rules: the connection's thread; the connection must outlive the lock.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <string>

namespace starstream::daemon::postgres {

// An arbitrary constant shared by every starstreamd: "starstrm" in ASCII.
inline constexpr const char* kMigrationLock = "7310593858689102189";

class MigrationLock {
public:
    /// Waits for the lock (bounded by the connection's statement deadline). Throws PgError.
    explicit MigrationLock(PgConnection& conn) : conn_(conn) { conn_.exec(std::string("SELECT pg_advisory_lock(") + kMigrationLock + ")"); }
    /// Releases it; a lost connection has released it already (session locks end with the session).
    ~MigrationLock() {
        try {
            if (conn_.ok()) conn_.exec(std::string("SELECT pg_advisory_unlock(") + kMigrationLock + ")");
        } catch (...) {  // the session ends with the connection, and the lock with it
        }
    }
    MigrationLock(const MigrationLock&) = delete;
    MigrationLock& operator=(const MigrationLock&) = delete;

private:
    PgConnection& conn_;
};

}  // namespace starstream::daemon::postgres
