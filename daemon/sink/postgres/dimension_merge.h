// SQL that merges staged dimension members into their table, shared by every pipeline's writer.
// Conflict targets are the natural keys: a surrogate-key collision then violates the primary
// key and fails the batch instead of silently merging two members. Rows are taken in natural-key
// order, so that instances merging the same members lock them in one order and never deadlock
// one another. RETURNING (xmax = 0) tells inserted rows from updated ones (upserted_rows); staged
// rows not returned were unchanged.
// Pure functions; any thread.
#pragma once

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// "INSERT INTO table AS t (columns) SELECT selects FROM stage_table ORDER BY natural_key ON
/// CONFLICT (natural_key) DO ": what every merge starts with.
std::string insert_from_stage(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                              const std::string& stage_table, const std::string& natural_key);

/// SCD type 1: inserts new members; corrects the attributes of existing ones in place and only
/// when they differ, so steady-state batches rewrite nothing. `selects` are the expressions
/// (same order as `columns`) read from `stage_table`, e.g. casts of staged text.
std::string scd1_upsert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key, const std::vector<std::string>& attributes);

/// The conformed calendar dimension: dim_date's rows for the date keys (YYYYMMDD) staged in
/// `stage_table.date_key`, every attribute derived from the date (ISO week, weekday, month...).
std::string date_dimension_insert(const std::string& stage_table);

}  // namespace starstream::daemon::postgres
