// The enrichment stage alone: decoded events -> star rows (StarBatchBuilder::add_event: surrogate
// keys, geography, User-Agent parse through its cache, registrable domains and referrer channels,
// canonical URLs, reporting-calendar keys). Decoding happens before the clock starts.
//   build/bench/starstream-bench-enrichment EVENTS.jsonl [--time-zone Europe/Berlin]
// Runs three passes over the same events in batches of 50,000 (batch.max_records' default):
// cold (a fresh Enrichment: empty User-Agent cache), then twice warm (same Enrichment). Prints
// one JSON object: events, distinct user agents, events/s per pass, microseconds per cold parse.
#include "enrichment/enrichment.h"
#include "pipeline/product_view/decoder.h"
#include "pipeline/product_view/star_batch_builder.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <unordered_set>

using namespace starstream::daemon;

namespace {

double pass(product_view::StarBatchBuilder& builder, std::vector<product_view::ProductViewEvent>& events) {
    constexpr std::size_t kBatch = 50000;
    const auto start = std::chrono::steady_clock::now();
    product_view::StarBatch batch;
    batch.topics = {"product_view"};
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (i % kBatch == 0) {
            batch = product_view::StarBatch{};
            batch.topics = {"product_view"};
            builder.reset();
        }
        builder.add_event(batch, events[i], 0, 0, static_cast<std::int64_t>(i));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return static_cast<double>(events.size()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: starstream-bench-enrichment EVENTS.jsonl [--time-zone ZONE]\n";
        return 2;
    }
    enrichment::EnrichmentSettings settings;
    if (argc == 4 && std::string(argv[2]) == "--time-zone") settings.reporting_time_zone = argv[3];

    std::ifstream in(argv[1]);
    product_view::Decoder decoder(65536);
    std::vector<product_view::ProductViewEvent> events;
    std::unordered_set<std::string> user_agents;
    for (std::string line; std::getline(in, line);) {
        product_view::ProductViewEvent e;
        if (!decoder.decode(line, e).empty()) continue;
        user_agents.insert(e.user_agent);
        events.push_back(std::move(e));
    }
    if (events.empty()) {
        std::cerr << "no valid events in " << argv[1] << "\n";
        return 1;
    }

    enrichment::Enrichment enrichment(settings);
    product_view::StarBatchBuilder builder(enrichment);
    const double cold = pass(builder, events);
    const double warm = pass(builder, events);
    const double warm_again = pass(builder, events);

    // The cost of one uncached parse, over every distinct header.
    const auto start = std::chrono::steady_clock::now();
    for (const auto& ua : user_agents) (void)enrichment.user_agents.parse(ua);
    const double parse_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
                            static_cast<double>(user_agents.size());

    nlohmann::json out = {{"events", events.size()},
                          {"distinct_user_agents", user_agents.size()},
                          {"cold_events_per_second", static_cast<long>(cold)},
                          {"warm_events_per_second", static_cast<long>(std::max(warm, warm_again))},
                          {"user_agent_parse_microseconds", parse_us},
                          {"time_zone", settings.reporting_time_zone}};
    std::cout << out.dump() << "\n";
    return 0;
}
