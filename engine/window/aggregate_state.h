// The aggregations of one window: count, sum, min, max, first and last value and label (by
// event time; ties broken by value, and by label, so that the result does not depend on
// arrival order; a label is a string such as a page URL), and an exact distinct count. Exact distinct keeps every distinct value of the window: fine for the
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
    std::string first_label, last_label;
    std::set<std::string> distinct;

    void add(std::int64_t time_us, double value, const std::string& distinct_value, const std::string& label = {}) {
        ++count;
        sum += value;
        if (value < min) min = value;
        if (value > max) max = value;
        take_first(time_us, value, label);
        take_last(time_us, value, label);
        distinct.insert(distinct_value);
    }
    /// Folds `other` in (session windows that merge).
    void merge(const AggregateState& other) {
        if (!other.count) return;
        count += other.count;
        sum += other.sum;
        if (other.min < min) min = other.min;
        if (other.max > max) max = other.max;
        take_first(other.first_time_us, other.first_value, other.first_label);
        take_last(other.last_time_us, other.last_value, other.last_label);
        distinct.insert(other.distinct.begin(), other.distinct.end());
    }
    std::uint64_t distinct_count() const { return distinct.size(); }

private:
    void take_first(std::int64_t time_us, double value, const std::string& label) {
        if (time_us < first_time_us) {
            first_time_us = time_us, first_value = value, first_label = label;
        } else if (time_us == first_time_us) {
            if (value < first_value) first_value = value;
            if (label < first_label) first_label = label;
        }
    }
    void take_last(std::int64_t time_us, double value, const std::string& label) {
        if (time_us > last_time_us) {
            last_time_us = time_us, last_value = value, last_label = label;
        } else if (time_us == last_time_us) {
            if (value > last_value) last_value = value;
            if (label > last_label) last_label = label;
        }
    }

public:
    bool operator==(const AggregateState&) const = default;
};

}  // namespace starstream::engine
