// Reads and validates pipeline specs (pipeline_spec.h) from YAML with yaml-cpp. Everything a spec
// names is checked before anything runs: unknown or repeated keys, identifiers that are not
// plain SQL names, malformed JSON pointers (RFC 6901), types, rules, durations, references to
// fields, enricher outputs and dimension tables, enricher functions and their inputs, window
// shapes (engine/window/window_spec.h), tables defined twice.
// A folder of specs is checked as a whole as well: pipeline names, topics and tables are each
// owned by one spec (a dimension may be shared when every spec defines it identically).
// Pure functions; any thread.
#pragma once

#include "spec/pipeline_spec.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

/// A spec that cannot be used; what() reads "file:line:column: key: message" (line and column
/// 1-based; the key is the dotted path, e.g. "windows.win_revenue.aggregates.revenue"), or
/// "path: key: message" when no line applies (a folder, an unreadable file: line 0).
class SpecError : public std::runtime_error {
public:
    SpecError(std::string file, int line, int column, std::string key, const std::string& message);
    const std::string& file() const { return file_; }
    int line() const { return line_; }      ///< 1-based; 0: none applies
    int column() const { return column_; }  ///< 1-based; 0: none applies
    const std::string& key() const { return key_; }

private:
    std::string file_;
    int line_, column_;
    std::string key_;
};

/// Parses one spec from YAML text; `file` names it in errors. Throws SpecError.
PipelineSpec parse_pipeline_spec(const std::string& yaml, const std::string& file);

/// Reads one spec file. Throws SpecError (also when the file cannot be read); nothing else.
PipelineSpec read_pipeline_spec(const std::string& path);

/// Reads every *.yaml / *.yml file of `dir` (any case, sorted by name) and checks them together.
/// Throws SpecError (nothing else) naming the file and key; a missing or unlistable folder, a
/// folder without specs, or an entry so named that is not a readable file (a folder, a broken or
/// looping link) is an error naming it (key "pipelines.dir").
std::vector<PipelineSpec> read_pipeline_folder(const std::string& dir);

}  // namespace starstream::daemon::spec
