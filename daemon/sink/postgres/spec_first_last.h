// The one order first(x) and last(x) choose by in every spec window kind (the fixed windows,
// spec_window_writer.h, and the sessions, spec_session_writer.h): first takes x of the earliest
// record passing the aggregate's filter, last x of the latest; among records of that event time
// first takes the least x and last the greatest, NULL counting as less than every value (as
// the compiled clickstream's win_visits counts a missing URL as '', sql/migrations/005) and text
// compared bytewise (COLLATE "C", whatever the database's collation). A record whose x is NULL
// is a candidate like any other: the value at the first (last) record is NULL when every record
// of that time has none. Being a total order over (event time, x), the choice is commutative and
// associative over records, so arrival order and batch boundaries never decide, and no event id
// is needed to break ties.
// SQL text builders; pure, any thread.
#pragma once

#include "spec/pipeline_spec.h"

#include <string>

namespace starstream::daemon::postgres {

/// The ORDER BY item, after the event time's, that sorts the winner of `function` (first or
/// last) first among records of one event time: `value` an SQL expression of PostgreSQL type
/// `type`. first: "v0 COLLATE \"C\" NULLS FIRST"; last: "v0 COLLATE \"C\" DESC NULLS LAST"
/// (COLLATE only for text).
std::string first_last_tie_order(spec::AggregateFunction function, const std::string& value, const std::string& type);

/// A boolean SQL condition: the candidate (`time`, `value`) wins `function` (first or last)
/// against the one held (`held_time`, `held_value`). A NULL time means no candidate: one
/// without never wins, one against none always does. Expressions of timestamptz and `type`.
std::string first_last_wins(spec::AggregateFunction function, const std::string& time, const std::string& value, const std::string& held_time,
                            const std::string& held_value, const std::string& type);

}  // namespace starstream::daemon::postgres
