// The tables a pipeline spec writes, as PostgreSQL columns and types: what the database must
// hold for the spec (schema_check.h compares them; spec_ddl.h makes the statements creating them).
//
// Types, named as information_schema.columns.data_type names them:
//   fields       text, integer -> bigint, numeric, double -> double precision, boolean, uuid,
//                inet, jsonb, timestamp -> timestamp with time zone
//   enricher     the output's type in the catalog (spec/enricher_catalog.cpp): calendar's
//   outputs      date_key integer and hour smallint, user_agent's is_bot boolean, the rest text
//   dimensions   surrogate key <name>_key bigint (a single natural key column so named is the
//                key itself, e.g. dim_date.date_key integer); key and attribute columns; SCD
//                type 2 adds valid_from, valid_to (timestamptz) and is_current (boolean)
//   facts        one surrogate key column per dimension, then the columns
//   windows      the bounds (timestamptz; none in a global window), the group keys, the session key, the aggregates:
//                count, count_distinct and any -> bigint, bigint, boolean; sum and avg of an
//                integer -> bigint and numeric, of a numeric -> numeric, of a double -> double
//                precision; min, max, first, last, mode -> the type of what they take. Each
//                followed by its state columns (spec::aggregate_state_columns): avg's <c>_sum
//                (the type sum would have) and <c>_count bigint; first's and last's
//                <c>_event_time timestamptz (in a session window only with their own
//                `where`); a session table also keeps last_event_time (kSessionLastEventTime)
//
// Keys (what the runtime's merges rely on; sql/migrations/001 and 005 made product_view's so):
//   dimensions   PRIMARY KEY (surrogate key); natural key UNIQUE, so that a 64-bit key
//                collision fails loudly instead of merging two members; SCD type 2: UNIQUE
//                (natural key, valid_from), one row per version, and the natural key unique
//                among the rows WHERE is_current (the current-version lookup)
//   facts        PRIMARY KEY (the columns holding the grain; grain event: the event id fields)
//   windows      PRIMARY KEY (start, group keys): a fixed-size window is named by its start;
//                a global window (one per group for all time) by its group keys alone;
//                cumulative windows share their start, so (start, end, group keys); a session
//                is (session key, group keys, start): its end moves while it grows
// NOT NULL: key columns, valid_from, valid_to ('infinity' for the current version) and is_current; every other column may be NULL (a field
// that is not required, an aggregate of nothing).
// Pure functions; any thread.
#pragma once

#include "spec/pipeline_spec.h"

#include <string>
#include <vector>

namespace starstream::daemon::spec {

struct ColumnSchema {
    std::string name;
    std::string type;  ///< information_schema data_type, e.g. "timestamp with time zone"
    bool not_null = false;
};

enum class TableKind { dimension, fact, window };

struct TableSchema {
    std::string table;
    std::string key;  ///< the spec key that defines it, e.g. "facts.fact_event"
    int line = 0;     ///< its line in the spec file
    TableKind kind = TableKind::dimension;
    std::vector<ColumnSchema> columns;
    std::vector<std::string> primary_key;  ///< column names, in index order
    std::vector<std::string> natural_key;  ///< dimensions: UNIQUE (SCD type 2: ..., valid_from); else empty
    std::vector<std::string> current_key;  ///< SCD type 2: unique WHERE is_current; else empty
};

/// Every table of `spec`, in the order of PipelineSpec::tables().
std::vector<TableSchema> table_schemas(const PipelineSpec& spec);

/// An SCD type 2 dimension's observation table (scd2_merge.h: every observation of its natural
/// key, the versions' source): "<dimension>_observation".
std::string scd2_observation_table(const std::string& dimension);

/// The table keeping the distinct values a count_distinct aggregate has counted, per window and
/// group (what makes the count exact across batches and instances): "<window table>_<column>_members".
std::string distinct_member_table(const WindowTableSpec& window, const AggregateSpec& aggregate);

/// The member tables of `spec`'s count_distinct aggregates (tumbling, hopping, cumulative
/// windows): the window table's key columns plus `member` (the counted reference's type), all
/// of them the primary key. Not among table_schemas(): made with their window table (spec_ddl.h).
std::vector<TableSchema> distinct_member_tables(const PipelineSpec& spec);

/// A session table's column holding the event time of its last record (NOT NULL): a record
/// within the gap of it extends the session, whatever gap its end was computed with.
/// product_view's win_visits (sql/migrations/005) names it so.
inline constexpr const char* kSessionLastEventTime = "last_event_time";

/// The table counting the occurrences of each value a mode aggregate has seen, per window and
/// group (what makes the mode exact across batches and instances): "<window table>_<column>_counts".
std::string mode_count_table(const WindowTableSpec& window, const AggregateSpec& aggregate);

/// The occurrence tables of `spec`'s mode aggregates: the window table's key columns plus
/// `value` (the reference's type; the primary key with them) and `occurrences` bigint (how many
/// counted records of the window and group carried the value). Made with their window table.
std::vector<TableSchema> mode_count_tables(const PipelineSpec& spec);

/// The type of a reference (a field or an enricher output) of `spec`.
std::string reference_type(const PipelineSpec& spec, const std::string& ref);

/// Whether a column of `database_type` holds every value of `spec_type`: the same type, or a
/// wider integer (a spec integer in a bigint column, not in an integer one).
bool holds(const std::string& database_type, const std::string& spec_type);

}  // namespace starstream::daemon::spec
