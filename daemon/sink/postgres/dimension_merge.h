// SQL that merges staged dimension members into their table, shared by every pipeline's writer.
// Conflict targets are the natural keys: a surrogate-key collision then violates the primary
// key and fails the batch instead of silently merging two members. Rows are taken in natural-key
// order, so that instances merging the same members lock them in one order and never deadlock
// one another. RETURNING (xmax = 0) tells inserted rows from updated ones (upserted_rows); staged
// rows not returned were unchanged. run_member_merge runs any of them.
// The SQL builders are pure functions, any thread; run_member_merge the connection's thread.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// "INSERT INTO table AS t (columns) SELECT selects FROM stage_table ORDER BY natural_key ON
/// CONFLICT (natural_key) DO ": what every merge starts with.
std::string insert_from_stage(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                              const std::string& stage_table, const std::string& natural_key);

/// SCD type 0 (retain original), and any dimension without attributes: inserts new members and
/// never rewrites one. `selects` are the expressions (same order as `columns`) read from
/// `stage_table`, e.g. casts of staged text.
std::string scd0_insert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key);

/// Attributes the pipeline derives from the key (spec policy `derived`, and the compiled
/// clickstream's dimensions): inserts new members; corrects the attributes of existing ones in
/// place and only when they differ, so steady-state batches rewrite nothing and a newer parser or
/// GeoIP database corrects a member as it reappears. Every writer with the same reference data
/// computes the same values, so arrival order does not matter; for attributes an older event may
/// carry differently use scd1_by_event_time_merge. `selects` as scd0_insert's.
std::string derived_upsert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key, const std::vector<std::string>& attributes);

/// SCD type 1 by event time (spec policy scd1): the member's attributes are those of its latest
/// observation, whatever the arrival order, batch boundaries or instances. An observation is
/// (event time, attribute tuple); the greater wins: time first, then the tuple compared column
/// by column as (value IS NOT NULL, its text COLLATE "C"), so NULL is the least and every
/// comparison is true or false. `stage_table` holds candidates: `columns` as text (cast by
/// `selects`) then `time_column` (timestamptz), several rows per member when its latest events
/// tie on time; the greatest per surrogate key `surrogate` is taken (DISTINCT ON), then
/// compared with the stored row in the ON CONFLICT arm, which sees what another instance
/// committed meanwhile. The stored row is replaced when the candidate is greater (its time
/// advances even when the attributes are equal: else an older observation with other values
/// would win later) or its time is NULL (a row older than the column). Rows are taken in
/// natural-key order, as every merge here.
std::string scd1_by_event_time_merge(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                                     const std::string& stage_table, const std::string& natural_key, const std::string& surrogate,
                                     const std::vector<std::string>& attributes, const std::string& time_column);

/// Runs `merge_sql` (one of the merges above) in `conn`'s open transaction; returns its
/// RETURNING rows. ON CONFLICT settles only its arbiter, the natural key (PostgreSQL manual,
/// INSERT, "ON CONFLICT Clause"): when another instance inserts the same new member at the same
/// moment, this insert meets that row in the surrogate key's index instead, waits for it, and
/// fails with 23505 once it commits. The merge then runs again from a savepoint taken before it,
/// and its arbiter now sees the committed member. Each such failure means another transaction
/// committed a member this batch also has, so instances racing on many new members converge;
/// a 23505 that persists (two natural keys on one surrogate key) is thrown after
/// kMemberMergeAttempts runs, as any PgError, and the sink's retry and bisection take over.
/// Each run leaves its savepoint open (one subtransaction per dimension and batch, far under
/// PostgreSQL's 64 cached per transaction); a RELEASE must not join the merge's exec, whose
/// result is its last statement's.
PgResult run_member_merge(PgConnection& conn, const std::string& merge_sql);
inline constexpr int kMemberMergeAttempts = 16;

/// The conformed calendar dimension: dim_date's rows for the date keys (YYYYMMDD) staged in
/// `stage_table.date_key`, every attribute derived from the date (ISO week, weekday, month...).
std::string date_dimension_insert(const std::string& stage_table);

}  // namespace starstream::daemon::postgres
