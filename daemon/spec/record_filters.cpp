#include "spec/record_filters.h"

#include "config/config.h"
#include "spec/table_schema.h"
#include "spec/value_text.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace starstream::daemon::spec {

namespace {

/// `filter` as conditions on the records of `spec` laid out by `layout`.
std::vector<Condition> conditions(const Filter& filter, const PipelineSpec& spec, const ReferenceLayout& layout) {
    std::vector<Condition> out;
    for (const auto& [ref, values] : filter) {
        Condition c{layout.at(ref), reference_type(spec, ref), values, {}};
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

/// Whether `values` pass every condition (true for none).
bool all_hold(const std::vector<Condition>& conditions, const std::vector<FieldValue>& values) {
    std::string buffer;
    for (const auto& c : conditions) {
        const auto v = input_view(values[c.index], c.type, buffer);
        if (!v || !c.holds(*v)) return false;
    }
    return true;
}

}  // namespace

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

std::vector<Filter> distinct_window_filters(const PipelineSpec& spec) {
    std::vector<Filter> out;
    auto add = [&](const Filter& f) {
        if (!f.empty() && std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    };
    for (const auto& w : spec.windows) {
        add(w.where);
        for (const auto& a : w.aggregates) add(a.where);
    }
    return out;
}

RecordFilters::RecordFilters(const PipelineSpec& spec, const ReferenceLayout& layout) : filters_(distinct_window_filters(spec)) {
    if (filters_.size() > kMaxFilters)
        throw ConfigError("windows", "pipeline " + spec.name + ": more than " + std::to_string(kMaxFilters) +
                                         " distinct where filters in the spec's windows and their aggregates");
    for (const auto& f : filters_) conditions_.push_back(conditions(f, spec, layout));
}

std::size_t RecordFilters::number(const Filter& filter) const {
    if (filter.empty()) return kNone;
    return static_cast<std::size_t>(std::find(filters_.begin(), filters_.end(), filter) - filters_.begin());
}

std::uint64_t RecordFilters::evaluate(const std::vector<FieldValue>& values) const {
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < conditions_.size(); ++i)
        if (all_hold(conditions_[i], values)) bits |= std::uint64_t{1} << i;
    return bits;
}

bool RecordFilters::passes(std::size_t filter, const SpecRow& row) const {
    if (filter == kNone) return true;
    if (row.passed_filters) return (*row.passed_filters >> filter) & 1;
    return all_hold(conditions_[filter], row.values);
}

}  // namespace starstream::daemon::spec
