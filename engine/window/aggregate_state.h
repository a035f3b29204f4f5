// The aggregations of one window: count, sum, min, max, first and last value (by event time,
// ties broken by value so that the result does not depend on arrival order), and an exact
// distinct count. Exact distinct keeps every distinct value of the window: fine for the
// windows this project runs (a product's visitors per hour); a HyperLogLog sketch would bound
// memory at the cost of exactness, and could come with postgresql-15-hll if needed.
// Value type; any thread.
#pragma once

#include <cstdint>
#include <limits>
#include <set>
#include <string>

namespace starstream::engine {

struct AggregateState {
    std::uint64_t count = 0;
    double sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    std::int64_t first_time_us = std::numeric_limits<std::int64_t>::max();
    double first_value = 0;
    std::int64_t last_time_us = std::numeric_limits<std::int64_t>::min();
    double last_value = 0;
    std::set<std::string> distinct;

    void add(std::int64_t time_us, double value, const std::string& distinct_value) {
        ++count;
        sum += value;
        if (value < min) min = value;
        if (value > max) max = value;
        if (time_us < first_time_us || (time_us == first_time_us && value < first_value)) first_time_us = time_us, first_value = value;
        if (time_us > last_time_us || (time_us == last_time_us && value > last_value)) last_time_us = time_us, last_value = value;
        distinct.insert(distinct_value);
    }
    /// Folds `other` in (session windows that merge).
    void merge(const AggregateState& other) {
        count += other.count;
        sum += other.sum;
        if (other.min < min) min = other.min;
        if (other.max > max) max = other.max;
        if (other.count && (other.first_time_us < first_time_us || (other.first_time_us == first_time_us && other.first_value < first_value)))
            first_time_us = other.first_time_us, first_value = other.first_value;
        if (other.count && (other.last_time_us > last_time_us || (other.last_time_us == last_time_us && other.last_value > last_value)))
            last_time_us = other.last_time_us, last_value = other.last_value;
        distinct.insert(other.distinct.begin(), other.distinct.end());
    }
    std::uint64_t distinct_count() const { return distinct.size(); }
    bool operator==(const AggregateState&) const = default;
};

}  // namespace starstream::engine
