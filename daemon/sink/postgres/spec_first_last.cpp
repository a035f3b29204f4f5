#include "sink/postgres/spec_first_last.h"

#include <fmt/format.h>

namespace starstream::daemon::postgres {

namespace {

std::string collated(const std::string& value, const std::string& type) { return type == "text" ? value + " COLLATE \"C\"" : value; }

}  // namespace

std::string first_last_tie_order(spec::AggregateFunction function, const std::string& value, const std::string& type) {
    return collated(value, type) + (function == spec::AggregateFunction::first ? " NULLS FIRST" : " DESC NULLS LAST");
}

std::string first_last_wins(spec::AggregateFunction function, const std::string& time, const std::string& value, const std::string& held_time,
                            const std::string& held_value, const std::string& type) {
    const bool first = function == spec::AggregateFunction::first;
    // At one time, first: NULL beats a value and the lesser value beats the greater; last: a
    // value beats NULL and the greater beats the lesser (NULL is the least either way).
    const std::string tie = first ? fmt::format("{1} IS NOT NULL AND ({0} IS NULL OR {2} < {1})", value, held_value, collated(value, type))
                                  : fmt::format("{0} IS NOT NULL AND ({1} IS NULL OR {2} > {1})", value, held_value, collated(value, type));
    return fmt::format("{0} IS NOT NULL AND ({1} IS NULL OR {0} {2} {1} OR ({0} = {1} AND {3}))", time, held_time, first ? "<" : ">", tie);
}

}  // namespace starstream::daemon::postgres
