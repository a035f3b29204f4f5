// Finding the rows Postgres refuses in a batch (DESIGN.md invariant 9, "no poison pill"): a range
// of rows that fails with an error a record can cause (caused_by_records) is split in two and
// each half tried again, down to single rows; a range that passes is never tried again. With k
// refused among n rows that is about k log2(n) probes (bench/results.md, "Instances and bisection").
// The search ends early when the caller has seen enough: many rows refused alike is a table or
// spec problem, not bad records, and finding each would cost a probe per row (PostgresBatchSink).
// Header-only template; the caller's thread.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <cstddef>
#include <optional>
#include <utility>

namespace starstream::daemon::postgres {

/// Whether `error`, refusing a single fact copied straight into its table (held_keys.h) or a
/// member, is a unique violation of the table's primary key: another instance committed that key
/// meanwhile. A duplicate, which the retry skips as a key held already, not a dead letter. Any
/// other unique constraint (an operator's UNIQUE (order_id) on a fact table) is the record's
/// fault: a dead letter. Every starstream table's primary key has PostgreSQL's default name,
/// <table>_pkey (sql/migrations, spec_ddl.cpp).
inline bool concurrent_duplicate(const PgError& error) {
    const std::string& c = error.constraint();
    return error.sqlstate() == "23505" && c.size() >= 5 && c.compare(c.size() - 5, 5, "_pkey") == 0;
}

/// `try_range(b, e)` writes rows [b, e) and returns the error that refused them, if any (throws
/// PgError when that error is transient); `refused(row, error)` is called for each single row
/// refused and returns whether to go on searching. `error` is what refused [begin, end): an
/// error no record causes ends the search. Returns false when `refused` stopped it.
template <typename TryRange, typename Refused>
bool bisect(TryRange&& try_range, Refused&& refused, std::size_t begin, std::size_t end, const PgError& error) {
    if (!caused_by_records(error)) return true;  // a schema or permission error is no record's fault
    if (end - begin == 1) return refused(begin, error);
    const std::size_t mid = begin + (end - begin) / 2;
    for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}})
        if (std::optional<PgError> failed = try_range(b, e))
            if (!bisect(try_range, refused, b, e, *failed)) return false;
    return true;
}

}  // namespace starstream::daemon::postgres
