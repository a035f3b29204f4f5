// The SQL text of the SCD type 2 merge (scd2_merge.h), built once per dimension: the session's
// temp tables, the COPY target, and the merge script whose statements run in order in one round
// trip (each sees what the previous ones wrote; under READ COMMITTED each takes a new snapshot,
// so the reads after the lock statement see what the lock's previous holder committed).
//
// Temp tables (session-local, named scd2$<n>$<dim>$<role> by temp_table_name.h, emptied before each merge):
//   in        the COPY target: scd2_ord int, natural key text..., scd2_obs bool, attributes
//             text..., scd2_at timestamptz (the event time)
//   input     the same, typed (a value that does not parse fails here: a data error)
//   new       (natural key, observed_at) of the batch's observations not stored before
//   override  per new observation time: [scd2_from, scd2_to) where it now decides the values,
//             and those values (scd2_from -infinity for a key's earliest observation)
//   span      stored versions rebuilt: those an override changes, and their neighbours
//   piece     the span cut at override bounds: old key, [scd2_from, scd2_to), values in force,
//             scd2_unchanged (same values as the old version), scd2_run (the new version)
//   run       the new versions of the span with their surrogate keys
// Pure functions; any thread.
#pragma once

#include "sink/postgres/scd2_merge.h"

#include <string>

namespace starstream::daemon::postgres {

struct Scd2Sql {
    std::string prepare;  ///< CREATE TEMP TABLE IF NOT EXISTS ...; TRUNCATE ...
    std::string copy;     ///< COPY <in> FROM STDIN (FORMAT binary)
    std::string merge;    ///< the script; its last statement returns (scd2_ord, surrogate key) by scd2_ord
};

Scd2Sql build_scd2_sql(const Scd2Dimension& dimension);

}  // namespace starstream::daemon::postgres
