// Compares the tables pipeline specs write (spec/table_schema.h) with the database: each table
// name is resolved as the daemon's unqualified SQL resolves it (search_path), and a relation that
// is no table (a view), or a column whose type (with its modifier: numeric(5,2), timestamptz(0),
// a domain) is not exactly one that holds the spec's values, is a conflict named on both sides.
// Tables and columns the database lacks are additions (for the migrations generated from specs).
// Not compared yet: nullability, and columns the database has beyond the spec's (lineage,
// first_seen...), which the compiled product_view pipeline fills.
// Thread rules: the caller's connection, one thread.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "spec/pipeline_spec.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

struct SchemaDifference {
    std::vector<std::string> missing_tables;   ///< "fact_lab_event (lab_events.yaml, 6 columns)", each table once
    std::vector<std::string> missing_columns;  ///< "dim_store.region text (product_view.yaml)"

    /// One line for logs and check-config: "no conflicting column; tables not in it yet: ...".
    std::string describe() const;
};

/// Reads the catalog for the specs' tables. Throws spec::SpecError at the first conflict
/// ("<file>:<line>: facts.fact_event: column ip: the spec makes it inet, the database's
/// fact_event.ip is text"), PgError when the query fails.
SchemaDifference compare_schema(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs);

}  // namespace starstream::daemon::postgres
