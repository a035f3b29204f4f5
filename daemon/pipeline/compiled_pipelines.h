// Pipelines compiled into the daemon: hand-written C++ for a spec of pipelines/, run instead of
// the generic spec path (SpecStage + SpecBatchWriter) while the spec language cannot say all they
// do yet. Today one: product_view (daemon/pipeline/product_view/), described by
// pipelines/product_view.yaml. `pipelines.compiled` (default: none) names the ones an instance
// runs compiled; any other pipeline, product_view by default, runs from its spec. The life cycle asks this file
// and never names a pipeline.
// Thread rules: make_compiled on the thread that builds the service.
#pragma once

#include "config/config.h"
#include "driver/pipeline_stage.h"
#include "metrics/pipeline_probe.h"
#include "sink/postgres/postgres_batch_sink.h"
#include "spec/pipeline_spec.h"

#include <memory>
#include <string>
#include <vector>

namespace starstream::daemon::pipeline {

/// A compiled pipeline's parts, for the engine's driver and the Postgres sink.
struct CompiledPipeline {
    std::unique_ptr<engine::PipelineStage> stage;
    postgres::PostgresBatchSink::WriterFactory make_writer;
    std::vector<std::string> topics;
    bool windows = false;  ///< keeps windowed tables: watermark alignment and watermark-only batches serve them
};

/// The pipelines.compiled names (comma-separated; empty or "none": every pipeline runs from its spec).
std::vector<std::string> compiled_names(const Config& config);

/// Whether pipeline `name` runs compiled: it has a compiled implementation and pipelines.compiled names it.
bool runs_compiled(const Config& config, const std::string& name);

/// The compiled pipeline `name` (runs_compiled). Loads its enrichment data: throws ConfigError
/// or std::runtime_error naming a missing file.
CompiledPipeline make_compiled(const Config& config, const std::string& name, metrics::PipelineProbe& probe);

/// Gives the spec of each pipeline with a compiled implementation the topics the compiled one
/// reads (source.topics), whether pipelines.compiled runs it compiled or not: source.topics
/// configures that pipeline, and its spec, run by default (pipelines.compiled = none), must read the
/// same topics, its windows' watermark included. The spec's own topics line is the default.
void use_configured_topics(const Config& config, std::vector<spec::PipelineSpec>& specs);

/// Why pipelines.compiled is wrong ("" when it is not): a name without a compiled implementation.
std::string compiled_problem(const Config& config);

/// Why running `spec` from its spec would ignore configuration ("" when it would not), the key
/// first: a windows.* key of its compiled pipeline set (Config::compiled_window_keys) while
/// pipelines.compiled does not name it.
std::string ignored_keys_problem(const Config& config, const spec::PipelineSpec& spec);

/// The visit gap that `rebuild-windows` recomputes product_view's win_visits with, microseconds:
/// windows.visit_gap_ms when product_view runs compiled, else the gap its spec states for
/// win_visits (`specs`: the validated specs; the key's value when the spec has no such table).
std::int64_t rebuild_visit_gap_us(const Config& config, const std::vector<spec::PipelineSpec>& specs);

}  // namespace starstream::daemon::pipeline
