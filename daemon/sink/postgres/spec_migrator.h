// Applies the migrations generated from pipeline specs (spec_ddl.h) and records each statement
// in starstream.spec_migration (made on first use, as migrator.h makes schema_migration): which
// pipeline and spec file asked for it, what it changed, the statement, when. Run after the SQL migrations (migrator.h), under the
// same advisory lock (migration_lock.h): the comparison is made inside the lock, so of several
// instances starting at once one applies and the others find nothing left; a second run
// applies nothing. One transaction per spec: a spec's tables appear together or not at all.
// Thread rules: one thread; uses the connection it is given (not inside a transaction).
#pragma once

#include "sink/postgres/pg_connection.h"
#include "sink/postgres/spec_ddl.h"
#include "spec/pipeline_spec.h"

#include <vector>

namespace starstream::daemon::postgres {

/// What apply_spec_migrations would apply now; writes nothing (check-config's dry run).
/// Throws spec::SpecError on a conflict (compare_schema), PgError.
std::vector<SpecMigration> plan_spec_migrations(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs);

/// Compares and applies under the migration lock; returns what was applied (maybe nothing).
/// Throws spec::SpecError on a conflict, before anything is written; PgError when a statement
/// fails (that spec's transaction is rolled back; specs applied before it stay).
std::vector<SpecMigration> apply_spec_migrations(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs);

/// "CREATE TABLE dim_lab_user (...);\n..." : the statements, for check-config and logs.
std::string describe(const std::vector<SpecMigration>& migrations);

}  // namespace starstream::daemon::postgres
