// The enrichers a pipeline spec can name: the lookups of daemon/enrichment/ as functions with
// declared inputs and outputs, so that a spec is checked against them before anything runs.
// Pure data; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::spec {

/// An enricher's output: referenced as "<enricher>.<name>", a column of `type` (a PostgreSQL type
/// as information_schema names it: "text", "integer", "smallint", "bigint", "boolean").
struct EnricherOutput {
    std::string_view name;
    std::string_view type = "text";
    bool always = false;  ///< has a value for every record, whatever its input (ip_geography's unknown location: ZZ, '')
};

struct EnricherFunction {
    std::string_view name;
    std::vector<std::string_view> inputs;  ///< what each input reference must hold, in order (none: `input` is not given)
    std::vector<EnricherOutput> outputs;
    bool time_input = false;                ///< the input is an event time (a timestamp field), not text; outputs have a value whenever it has
    std::string_view source;                ///< the reference data behind it
};

/// Every enricher function, by name.
const std::vector<EnricherFunction>& enricher_catalog();

/// The function called `name`, or nullptr.
const EnricherFunction* find_enricher(std::string_view name);

/// `function`'s output called `name`, or nullptr.
const EnricherOutput* find_output(const EnricherFunction& function, std::string_view name);

/// "browser_family, browser_version, ..." (for error messages).
std::string output_names(const EnricherFunction& function);

/// "user_agent, ip_geography, ..." (for error messages).
std::string enricher_names();

}  // namespace starstream::daemon::spec
