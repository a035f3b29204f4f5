// The DDL that makes a database hold the pipeline specs, from what compare_schema found missing
// (schema_check.h): a pure function, so that check-config can print it (a dry run) and tests can
// read it without a database; spec_migrator.h applies and records it.
//
// Statements, named like sql/migrations/001..005 name the clickstream tables:
//   missing table   CREATE TABLE <table> (columns..., CONSTRAINT <table>_pkey PRIMARY KEY (...),
//                   dimensions: CONSTRAINT <table>_natural_key UNIQUE (...) unless the natural
//                   key is the primary key itself, as dim_date's date_key); SCD type 2 also
//                   the CHECKs its merge keeps true, CREATE UNIQUE INDEX <table>_current ON
//                   <table> (natural key) WHERE is_current, and scd2_state
//   missing column  ALTER TABLE <schema>.<table> ADD COLUMN <column> <type>: nullable, since the
//                   rows already there have no value for it
//   a window's view DROP VIEW IF EXISTS + CREATE VIEW (create_view; spec_migrator.h decides when)
// Keys and NOT NULL columns come from spec/table_schema.h. No FOREIGN KEY: 001 explains why.
// Names are spec names (plain lower-case SQL names), double-quoted only when PostgreSQL
// reserves them ("order", "end").
// Pure functions; any thread.
#pragma once

#include "sink/postgres/scd2_merge.h"
#include "sink/postgres/schema_check.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// An expression of the spec that PostgreSQL must accept before a statement using it runs: `sql`
/// selects it (LIMIT 0, over the tables it reads); `key`, `line`, `column` say where the spec gives it.
struct SpecCheck {
    std::string sql, key;
    int line = 0, column = 0;
};

struct SpecStatement {
    std::string target;  ///< what it changes: "dim_lab_item", "dim_lab_item.color"
    std::string sql;     ///< one statement, without a trailing semicolon
    std::vector<SpecCheck> checks = {};  ///< run first, each on its own (spec_migrator.h)
};

/// The statements of one spec, applied in one transaction.
struct SpecMigration {
    std::string pipeline, file;
    std::vector<SpecStatement> statements;
};

/// One SpecMigration per spec with something to add (specs with missing tables first, in spec
/// order); within one, the CREATE TABLEs (in spec order), then for each new SCD type 2 dimension
/// of `scd2` (scd2_dimensions.h) its state (scd2_state), then the ADD COLUMNs. count_distinct's
/// member tables (spec::distinct_member_tables) come in `difference` like any missing table. Empty when
/// `difference` is. Specs never depend on each other's statements (no FOREIGN KEY; a conformed
/// dimension is created by the first spec naming it), so their order is free.
std::vector<SpecMigration> spec_ddl(const SchemaDifference& difference, const std::vector<Scd2Dimension>& scd2 = {});

/// What the SCD type 2 merge needs besides the dimension table (scd2_merge.h): the key sequence,
/// the observation table (natural key, observed_at, attributes: its primary key), and on each
/// fact table carrying the key an index on (key, event time) for re-pointing.
std::vector<SpecStatement> scd2_state(const Scd2Dimension& dimension);

/// CREATE TABLE (and, SCD type 2, the current-version index) for one table.
std::vector<SpecStatement> create_table(const spec::TableSchema& table);

/// ALTER TABLE ... ADD COLUMN for one column.
SpecStatement add_column(const MissingColumn& column);

/// A window table's view (spec::WindowViewSpec): DROP VIEW IF EXISTS, then CREATE VIEW selecting
/// the table's columns (named, not *, so that the statement changes when they do), the derived
/// columns and the segment (CASE WHEN rule THEN 'name' ... END: the first rule that holds), with
/// a check per expression. Dropped and made again rather than CREATE OR REPLACE: a view holds
/// no data, and REPLACE refuses a column inserted before its last one. Empty without a view.
std::vector<SpecStatement> create_view(const spec::PipelineSpec& spec, const spec::WindowTableSpec& window);

/// `name` as an SQL identifier: unchanged, or double-quoted when PostgreSQL reserves it.
std::string sql_identifier(const std::string& name);

}  // namespace starstream::daemon::postgres
