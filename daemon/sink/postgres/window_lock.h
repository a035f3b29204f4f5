// The lock that serialises merges into the windowed tables across instances (and the
// rebuild-windows command): a transaction-scoped Postgres advisory lock, taken after a batch's
// facts are written and held until its COMMIT. Every window merge of every instance reads the
// window watermark and the stored windows under it, so additive upserts, distinct counts and
// session merges never interleave, and with one lock there is no lock order to get wrong.
#pragma once

namespace starstream::daemon::postgres {

inline constexpr const char* kWindowMergeLock = "SELECT pg_advisory_xact_lock(hashtext('starstream.windows'))";

}  // namespace starstream::daemon::postgres
