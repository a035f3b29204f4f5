// The SCD type 2 dimensions of the pipeline specs, described for the merge (scd2_merge.h):
// natural key and attribute columns typed as spec/table_schema.h types them, and every fact
// table of any spec that carries the dimension's surrogate key, with the column holding that
// spec's event time (a conformed dimension collects the facts of every spec that shares it).
// Pure functions; any thread.
#pragma once

#include "sink/postgres/scd2_merge.h"
#include "spec/pipeline_spec.h"

#include <vector>

namespace starstream::daemon::postgres {

/// One descriptor per `policy: scd2` dimension table of `specs` (in order of first definition).
/// Throws spec::SpecError naming the fact when a fact table carrying such a dimension has no
/// column holding its event time: its rows could not be re-pointed when a late observation
/// splits a version.
std::vector<Scd2Dimension> scd2_dimensions(const std::vector<spec::PipelineSpec>& specs);

}  // namespace starstream::daemon::postgres
