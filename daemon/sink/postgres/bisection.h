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

/// Whether `error` is a unique violation. Another instance's concurrent insert of the same key
/// (a fact's grain, a new member, a new date) raises one once that instance commits; so does a
/// record that violates a unique constraint against committed rows (an operator's UNIQUE on a
/// column). Only trying again tells them apart: the race is over then.
inline bool unique_violation(const PgError& error) { return error.sqlstate() == "23505"; }

/// How often a single row refused by a unique violation is tried again before it is blamed:
/// each failure after the first means yet another concurrent writer committed meanwhile.
inline constexpr int kUniqueViolationTries = 3;

/// `try_range(b, e)` writes rows [b, e) and returns the error that refused them, if any (throws
/// PgError when that error is transient); `refused(row, error)` is called for each single row
/// refused and returns whether to go on searching. A single row refused by a unique violation
/// is tried again (kUniqueViolationTries in all) and blamed only when that keeps refusing it: a
/// concurrent writer's key is then committed and read as held, which is no dead letter. `error`
/// is what refused [begin, end): an error no record causes ends the search. Returns false when
/// `refused` stopped it.
template <typename TryRange, typename Refused>
bool bisect(TryRange&& try_range, Refused&& refused, std::size_t begin, std::size_t end, const PgError& error) {
    if (!caused_by_records(error)) return true;  // a schema or permission error is no record's fault
    if (end - begin == 1) {
        std::optional<PgError> last = error;
        for (int tried = 1; last && unique_violation(*last) && tried < kUniqueViolationTries; ++tried) last = try_range(begin, end);
        return !last || !caused_by_records(*last) || refused(begin, *last);
    }
    const std::size_t mid = begin + (end - begin) / 2;
    for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}})
        if (std::optional<PgError> failed = try_range(b, e))
            if (!bisect(try_range, refused, b, e, *failed)) return false;
    return true;
}

}  // namespace starstream::daemon::postgres
