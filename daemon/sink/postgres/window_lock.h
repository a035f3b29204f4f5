// The lock that serialises merges into the windowed tables across instances (and the
// rebuild-windows command): a transaction-scoped Postgres advisory lock, taken after a batch's
// facts are written and held until its COMMIT. Every window merge of every instance reads the
// window watermark and the stored windows under it, so additive upserts, distinct counts and
// session merges never interleave, and with one lock there is no lock order to get wrong.
#pragma once

namespace starstream::daemon::postgres {

inline constexpr const char* kWindowMergeLock = "SELECT pg_advisory_xact_lock(hashtext('starstream.windows'))";

/// Transactions that take the lock begin with this whatever the server's default isolation
/// (default_transaction_isolation may be repeatable read): what they read after the lock must
/// include what the previous holder committed, not a snapshot from before the wait.
inline constexpr const char* kBeginReadCommitted = "BEGIN ISOLATION LEVEL READ COMMITTED";

}  // namespace starstream::daemon::postgres
