// Compares the tables pipeline specs write (spec/table_schema.h) with the database: each table
// name is resolved as the daemon's unqualified SQL resolves it (search_path). Conflicts, named
// on both sides:
//   - a relation that is no table (a view);
//   - a column whose type (with its modifier: numeric(5,2), timestamptz(0), a domain) is not
//     exactly one that holds the spec's values;
//   - a key the runtime relies on that the database does not enforce (unique_keys.h): a
//     dimension's natural key (a key column removed, renamed or added), a fact's grain, a
//     table's primary key. Only the column sets are compared, not their order.
// Tables and columns the database lacks are additions: spec_ddl.h makes the statements that add
// them. Not compared: nullability, and columns and unique indexes the database has beyond the
// spec's (lineage, first_seen..., which a compiled pipeline fills).
// Thread rules: the caller's connection, one thread.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "spec/pipeline_spec.h"
#include "spec/table_schema.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// A table no relation of the database holds yet; its spec (by name and file) creates it.
struct MissingTable {
    std::string pipeline, file;
    spec::TableSchema schema;
};

/// A column a table of the database lacks.
struct MissingColumn {
    std::string pipeline, file;
    std::string table;      ///< as the spec names it
    std::string qualified;  ///< as the database resolves it, quoted where needed: "public.dim_store"
    spec::ColumnSchema column;
};

struct SchemaDifference {
    std::vector<MissingTable> tables;    ///< each table once (a conformed dimension: its first spec's)
    std::vector<MissingColumn> columns;  ///< each column once

    bool empty() const { return tables.empty() && columns.empty(); }
    /// One line for logs and check-config: "no conflicting column or key; tables not in it yet:
    /// fact_lab_event (lab_events.yaml, 6 columns); columns not in it yet: dim_store.region text (clickstream.yaml)".
    std::string describe() const;
};

/// Reads the catalog for the specs' tables. Throws spec::SpecError at the first conflict
/// ("<file>:<line>: facts.fact_event: column ip: the spec makes it inet, the database's
/// public.fact_event.ip is text"), PgError when a query fails.
SchemaDifference compare_schema(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs);

}  // namespace starstream::daemon::postgres
