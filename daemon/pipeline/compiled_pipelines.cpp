#include "pipeline/compiled_pipelines.h"

#include "pipeline/product_view/product_view_stage.h"
#include "pipeline/product_view/star_batch_writer.h"
#include "sink/postgres/pg_settings.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace starstream::daemon::pipeline {

namespace {

constexpr std::array<const char*, 1> kCompiled = {"product_view"};

bool has_compiled(const std::string& name) {
    return std::find(kCompiled.begin(), kCompiled.end(), name) != kCompiled.end();
}

CompiledPipeline product_view_pipeline(const Config& config, metrics::PipelineProbe& probe) {
    CompiledPipeline p;
    p.stage = std::make_unique<product_view::ProductViewStage>(config.enrichment, config.max_event_bytes, probe);
    p.make_writer = [settings = pg_settings(config), windows = config.windows, instance = config.instance_id](const std::atomic<bool>* abort_flag) {
        return std::make_unique<product_view::StarBatchWriter>(settings, windows, instance, abort_flag);
    };
    p.topics = config.topics;
    p.windows = config.windows.enabled;
    return p;
}

}  // namespace

std::vector<std::string> compiled_names(const Config& config) {
    std::vector<std::string> names = comma_list(config.pipelines_compiled);
    if (names == std::vector<std::string>{"none"}) names.clear();
    return names;
}

bool runs_compiled(const Config& config, const std::string& name) {
    const auto names = compiled_names(config);
    return has_compiled(name) && std::find(names.begin(), names.end(), name) != names.end();
}

CompiledPipeline make_compiled(const Config& config, const std::string& name, metrics::PipelineProbe& probe) {
    if (name == kCompiled[0]) return product_view_pipeline(config, probe);
    throw std::logic_error("no compiled pipeline named " + name);
}

void use_configured_topics(const Config& config, std::vector<spec::PipelineSpec>& specs) {
    for (auto& spec : specs)
        if (has_compiled(spec.name)) spec.topics = config.topics;
}

std::string compiled_problem(const Config& config) {
    for (const auto& name : compiled_names(config))
        if (!has_compiled(name))
            return "pipelines.compiled: no compiled pipeline named '" + name + "' (compiled: " + kCompiled[0] + "; every other pipeline runs from its spec)";
    return {};
}

std::string ignored_keys_problem(const Config& config, const spec::PipelineSpec& spec) {
    if (!has_compiled(spec.name) || runs_compiled(config, spec.name) || config.compiled_window_keys.empty()) return {};
    return config.compiled_window_keys.front() + ": configures the compiled " + spec.name + " pipeline, but " + spec.name +
           " runs from its spec (pipelines.compiled = " + config.pipelines_compiled + "), whose windows state their own gap, lateness and late policies (" +
           spec.file + "); remove the key, or set pipelines.compiled = " + spec.name + " to run the compiled pipeline";
}

std::int64_t rebuild_visit_gap_us(const Config& config, const std::vector<spec::PipelineSpec>& specs) {
    if (runs_compiled(config, kCompiled[0])) return config.windows.visit_gap_us;
    for (const auto& spec : specs)
        if (spec.name == kCompiled[0])
            for (const auto& w : spec.windows)
                if (w.table == "win_visits" && w.kind == spec::WindowKind::session) return w.gap_us;
    return config.windows.visit_gap_us;
}

}  // namespace starstream::daemon::pipeline
