#include "sink/postgres/spec_filter.h"

#include "spec/value_text.h"
#include "spec/table_schema.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace starstream::daemon::postgres {

using spec::input_view;

bool Condition::numeric(const std::string& type) {
    return type == "integer" || type == "bigint" || type == "smallint" || type == "numeric" || type == "double precision";
}

bool Condition::holds(std::string_view value) const {
    if (values.empty()) return true;  // {present: true}: any value
    if (numeric(type)) {
        const double v = std::strtod(std::string(value).c_str(), nullptr);
        return std::find(numbers.begin(), numbers.end(), v) != numbers.end();
    }
    return std::find(values.begin(), values.end(), value) != values.end();
}

std::vector<Condition> conditions(const spec::Filter& filter, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout) {
    std::vector<Condition> out;
    for (const auto& [ref, values] : filter) {
        Condition c{layout.at(ref), spec::reference_type(spec, ref), values, {}};
        if (c.type == "boolean")
            for (auto& v : c.values) {
                std::string lower = v;
                std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
                v = lower == "true" || lower == "yes" || lower == "on" || lower == "1" || lower == "t" ? "t" : "f";
            }
        if (Condition::numeric(c.type))
            for (const auto& v : c.values) c.numbers.push_back(std::strtod(v.c_str(), nullptr));
        out.push_back(std::move(c));
    }
    return out;
}

bool passes(const std::vector<Condition>& conditions, const spec::SpecRow& row) {
    std::string buffer;
    for (const auto& c : conditions) {
        const auto v = input_view(row.values[c.index], c.type, buffer);
        if (!v || !c.holds(*v)) return false;
    }
    return true;
}

}  // namespace starstream::daemon::postgres
