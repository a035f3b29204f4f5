// Compares the tables pipeline specs write (spec/table_schema.h) with the database: a column the
// database types so that it cannot hold the spec's values is a conflict, named on both sides;
// tables and columns the database lacks are additions (for the migrations generated from specs).
// Columns the database has beyond the spec's are fine (lineage, first_seen, ...).
// Thread rules: the caller's connection, one thread.
#pragma once

#include "sink/postgres/pg_connection.h"
#include "spec/pipeline_spec.h"

#include <string>
#include <vector>

namespace starstream::daemon::postgres {

struct SchemaDifference {
    std::vector<std::string> missing_tables;   ///< "fact_lab_event (lab_events.yaml, 6 columns)"
    std::vector<std::string> missing_columns;  ///< "dim_store.region text (product_view.yaml)"
};

/// Reads the columns of the specs' tables in the connection's current schema. Throws
/// spec::SpecError at the first conflict ("<file>:<line>: facts.fact_event: column ip: the spec
/// makes it inet, the database's fact_event.ip is text"), PgError when the query fails.
SchemaDifference compare_schema(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs);

}  // namespace starstream::daemon::postgres
