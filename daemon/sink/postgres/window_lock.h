// The lock that serialises merges into the windowed tables across instances (and the
// rebuild-windows command): a transaction-scoped Postgres advisory lock, taken after a batch's
// facts are written and held until its COMMIT. Every window merge of every instance reads the
// window watermark and the stored windows under it, so additive upserts, distinct counts and
// session merges never interleave, and with one lock there is no lock order to get wrong.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <cstdint>
#include <cstdlib>

namespace starstream::daemon::postgres {

inline constexpr const char* kWindowMergeLock = "SELECT pg_advisory_xact_lock(hashtext('starstream.windows'))";

/// Transactions that take the lock begin with this whatever the server's default isolation
/// (default_transaction_isolation may be repeatable read): what they read after the lock must
/// include what the previous holder committed, not a snapshot from before the wait.
inline constexpr const char* kBeginReadCommitted = "BEGIN ISOLATION LEVEL READ COMMITTED";

/// Takes the window merge lock in the open transaction and reads the window watermark
/// (starstream.window_watermark), Unix microseconds; INT64_MIN while there is none (nothing is
/// late then). Throws PgError.
inline std::int64_t lock_windows_and_read_watermark(PgConnection& conn) {
    conn.exec(kWindowMergeLock);
    PgResult r = conn.exec("SELECT (extract(epoch FROM watermark) * 1000000)::bigint FROM starstream.window_watermark");
    if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return INT64_MIN;
    return std::atoll(PQgetvalue(r.get(), 0, 0));
}

}  // namespace starstream::daemon::postgres
