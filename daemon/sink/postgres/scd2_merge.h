// The SCD type 2 merge of one dimension (spec policy `scd2`): keeps a dimension's versions and
// the facts pointing at them right while observations arrive in any order, in any batches,
// from any number of instances.
//
// Semantics (the oracle the tests compare with):
// - An observation is an event carrying a natural key and all its attribute values, at its event
//   time. An event carrying the key but no attribute values is a reference (an inferred member):
//   it observes nothing and only asks for the version in force at its time.
// - The values of a key at time t are those of its latest observation at or before t. At equal
//   times the greatest attribute tuple wins (compared column by column in attribute order, each
//   with its type's default ordering; text: the database collation; so attribute types need
//   one: jsonb, not json), so arrival order never matters. Before a key's first observation, its first observation's values hold: the first
//   version starts at -infinity, so that every fact, also one earlier than every observation,
//   finds a version. A key referenced but never observed has one version with NULL attributes
//   (-infinity to infinity); its first observation fills it in place, keeping its key.
// - Versions are the maximal runs of equal values over time: rows (surrogate key, natural key,
//   attributes, valid_from, valid_to, is_current) tiling [-infinity, infinity) per key without
//   gap or overlap; the last has valid_to = 'infinity' and is_current. A fact points at the
//   version whose [valid_from, valid_to) holds its event time.
//
// State: `<dim>_observation` (natural key, observed_at, attributes; deduplicated by its primary
// key) is the source of truth: versions alone cannot place a late observation. A batch inserts
// its new observations, and for each one the interval where it now decides the values is [its
// time, the next observation's time) (from -infinity when it is the key's earliest). That
// interval lies inside one stored version, found by an index probe; only versions whose values
// it changes, and their two neighbours (with which runs may merge), are rebuilt, so the cost
// follows the batch, not the key's history (a key with 100k observations costs a few probes).
//
// Surrogate keys come from a sequence (`<dim>_<key>_seq`), not from a hash of natural key and
// valid_from: a late observation moves version boundaries (an earlier observation of the next
// version's values extends it backwards), and a key derived from valid_from would either change
// (re-pointing every fact of the version) or later collide with the key of a new version
// starting there. A rebuilt run keeps the key of an old version it overlaps: the old version
// whose earliest unchanged stretch lies in it (the earliest such; else one wholly overwritten
// that starts in it), so facts are re-pointed only where the values in force really changed.
//
// Concurrency: runs inside the caller's open READ COMMITTED transaction (kBeginReadCommitted:
// each statement must see what the previous lock holder committed). It first takes a
// transaction-scoped advisory lock per natural key (64-bit hash of table and key), all in
// ascending order in one statement, so two batches sharing keys never deadlock and never
// interleave their merges of a key; the locks hold until the caller's COMMIT or ROLLBACK, so the
// caller writes its new facts (with the keys returned) before another instance re-points them.
//
// Requirements on the schema (scd2_schema_sql makes them): the dimension's natural key plus
// valid_from UNIQUE (the version probe), the observation table's primary key, the sequence; on
// each fact table an index on (key column, event-time column), or re-pointing scans the table.
// Fact tables must not have a non-deferrable foreign key to the dimension: changed versions are
// deleted and inserted again under the same key.
//
// Cost per batch: 3 round trips whatever its size: (1) create the session's 7 temp tables if
// missing and empty them (8 statements); (2) a binary COPY of the events; (3) one script of 11
// statements plus one UPDATE per fact table, the last returning the keys. Work on the stored
// tables is index probes only (no sequential scan; tested): per new observation 3 probes of the
// observation table and 1-3 of the dimension, per changed version its pieces' index range scans
// of each fact table, per event 1 probe for its key. Measured on the test machine (2 shared
// cores): a late observation splitting a version of a key with 20,000 observations and 20,000
// facts, 499 facts re-pointed, about 10-15 ms for the 3 round trips and the facts' INSERT; a
// worst case, 5,000-event batches over 1,000 keys whose every observation is late and changes
// the values (8,700 pieces rebuilt per batch), about 300 ms per merge (the pieces' sort and
// window statement the largest part, 100 ms).
//
// Errors: PgError (engine::StoreError). transient() (lost connection, deadlock, serialization)
// means: roll back and retry the batch. A value that does not parse as its column type is a
// data error (class 22): the caller isolates the record. The transaction must be rolled back
// after any error. std::invalid_argument for an event whose value counts do not match the
// descriptor (a programmer error, nothing sent); std::logic_error when an event finds no
// version (the stored tiling was broken by something other than this merge).
// Thread rules: Scd2Merge is immutable once built (any thread); merge() uses the connection, one
// thread at a time.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "spec/table_schema.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// A column and its PostgreSQL type as written in DDL ("text", "numeric", "bigint").
struct Scd2Column {
    std::string name;
    std::string type;
};

/// A fact table whose rows point at the dimension's versions.
struct Scd2FactLink {
    std::string table;
    std::string key_column;   ///< the surrogate key column, bigint
    std::string time_column;  ///< the event time, timestamptz
};

/// What the merge writes. Names are SQL names as the spec reader validates them (lower case,
/// no quoting needed).
struct Scd2Dimension {
    std::string table;          ///< "dim_lab_item"
    std::string surrogate_key;  ///< "lab_item_key", bigint
    std::vector<Scd2Column> natural_key;
    std::vector<Scd2Column> attributes;  ///< at least one
    std::vector<Scd2FactLink> facts;

    std::string observation_table() const { return spec::scd2_observation_table(table); }
    std::string key_sequence() const { return table + "_" + surrogate_key + "_seq"; }
};

/// One event of a batch, as the merge sees it.
struct Scd2Event {
    std::vector<std::string> key;  ///< natural key values, PostgreSQL input syntax, in natural_key order
    /// Attribute values (input syntax, in attributes order), or nullopt for a reference.
    std::optional<std::vector<std::string>> attributes;
    std::int64_t time_us = 0;  ///< event time, Unix microseconds
};

class Scd2Merge {
public:
    /// Builds the SQL once. Throws std::invalid_argument when the descriptor has no natural key
    /// or no attribute.
    explicit Scd2Merge(Scd2Dimension dimension);

    /// Merges `events` inside the caller's open transaction on `conn` (see the file comment) and
    /// returns, for each event in order, the surrogate key of the version in force at its time
    /// after the merge: the key its fact row must carry. Facts already stored that the batch's
    /// observations move to another version are re-pointed. Throws PgError.
    std::vector<std::int64_t> merge(PgConnection& conn, const std::vector<Scd2Event>& events) const;

    const Scd2Dimension& dimension() const { return dimension_; }

private:
    std::string stage(const std::vector<Scd2Event>& events) const;

    Scd2Dimension dimension_;
    std::string prepare_sql_;  ///< creates (once per session) and empties the temp tables
    std::string copy_sql_;
    std::string merge_sql_;
};

/// CREATE statements (IF NOT EXISTS) for the dimension table, its observation table and key
/// sequence: what a migration generated from the spec must make.
std::string scd2_schema_sql(const Scd2Dimension& dimension);

}  // namespace starstream::daemon::postgres
