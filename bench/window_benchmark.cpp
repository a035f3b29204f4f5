// Window pre-aggregation throughput per window type, one thread (engine only, no I/O):
//   build/bench/starstream-bench-windows [EVENTS]
// EVENTS (default 1,000,000) synthetic records over 24 h of event time, 2 min of disorder and
// 1 % late by 15 min; keys drawn like product views (19,418 products, Zipf-skewed) or, for
// sessions, like devices (bursts of about 12 events). Records go in micro-batches of 50,000:
// each batch is pre-aggregated by WindowPartials against the watermark at the batch's start
// (as the sink does), and its sessions merged per key (merge_sessions). Prints one JSON object
// per window type with events/s and the partial rows a sink would merge.
#include "window/window_partials.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

using namespace starstream::engine;

namespace {

constexpr std::int64_t kSecond = 1'000'000, kMinute = 60 * kSecond, kHour = 60 * kMinute;

struct Record {
    WindowInput input;
    std::int64_t watermark_us;
};

std::vector<Record> make_records(std::size_t n, bool by_device) {
    std::mt19937_64 rng(7);
    // Zipf-like product popularity: rank r has weight 1 / r.
    std::vector<double> weights(19418);
    for (std::size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / static_cast<double>(r + 1);
    std::discrete_distribution<std::size_t> product(weights.begin(), weights.end());
    std::vector<Record> out;
    out.reserve(n);
    std::int64_t max_time = 0;
    std::size_t device = 0, left_in_visit = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::int64_t t = static_cast<std::int64_t>(static_cast<double>(i) / static_cast<double>(n) * 24.0 * static_cast<double>(kHour));
        t -= std::uniform_int_distribution<std::int64_t>(0, 2 * kMinute)(rng);
        if (std::bernoulli_distribution(0.01)(rng)) t -= 15 * kMinute;
        if (left_in_visit == 0) device = i, left_in_visit = 1 + std::geometric_distribution<std::size_t>(0.08)(rng);
        --left_in_visit;
        std::string key = by_device ? "device-" + std::to_string(device % 5000) : std::to_string(product(rng));
        out.push_back({{std::move(key), t, 1, "device-" + std::to_string(device), "/page", static_cast<std::int64_t>(i)}, max_time - 5 * kMinute});
        max_time = std::max(max_time, t);
    }
    return out;
}

double run(const WindowTableSpec& spec, const std::vector<Record>& records, std::size_t& rows) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t begin = 0; begin < records.size(); begin += 50000) {
        WindowPartials batch(spec, records[begin].watermark_us);
        const std::size_t end = std::min(records.size(), begin + 50000);
        for (std::size_t i = begin; i < end; ++i) batch.add(records[i].input);
        rows += batch.cells().size();
        for (const auto& [key, sessions] : batch.take_sessions()) rows += sessions.size();
    }
    return static_cast<double>(records.size()) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 1'000'000;
    const auto products = make_records(n, false), devices = make_records(n, true);
    struct Case {
        const char* name;
        WindowTableSpec spec;
        const std::vector<Record>& records;
    };
    const Case cases[] = {
        {"tumbling 1 h, correct", {{WindowKind::tumbling, kHour, kHour, 0}, LatePolicy::correct, kHour}, products},
        {"hopping 1 h / 5 min, dead-letter", {{WindowKind::hopping, kHour, 5 * kMinute, 0}, LatePolicy::dead_letter, 0}, products},
        {"cumulative 1 day / 1 h, correct", {{WindowKind::cumulative, 24 * kHour, kHour, 0}, LatePolicy::correct, kHour}, products},
        {"session 30 min gap, correct", {{WindowKind::session, 0, 0, 30 * kMinute}, LatePolicy::correct, kHour}, devices},
    };
    for (const auto& c : cases) {
        std::size_t rows = 0;
        const double rate = run(c.spec, c.records, rows);
        std::cout << nlohmann::json{{"window", c.name}, {"events", n}, {"events_per_second", static_cast<long>(rate)}, {"partial_rows", rows}}.dump()
                  << "\n";
    }
    return 0;
}
