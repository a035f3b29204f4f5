// starstream-generate: realistic product_view events (default) or REES46 commerce events
// (--event-type commerce, ../shared/EVENTS.md section 2) into Kafka and/or a JSONL file, and for
// commerce also a CSV file with the Kaggle header.
//
// Deterministic for a seed (same options, same bytes; --partitioning changes where messages go,
// never their bytes). Prints a JSON summary (counts by message kind, elapsed seconds; for
// commerce also the valid events by type and the disorder counts) on stdout when done.
// Exit codes: 0 done, 1 a Kafka or file error, 2 bad options.
#include "commerce_generator.h"
#include "event_generator.h"
#include "partitioning.h"
#include "common/kafka_writer.h"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

namespace po = boost::program_options;
using starstream::bench::CommerceGenerator;
using starstream::bench::EventGenerator;
using starstream::bench::GeneratorOptions;
using starstream::bench::KafkaWriter;
using starstream::bench::Message;
using starstream::bench::Partitioner;
using starstream::bench::Partitioning;

namespace {

/// Where a run's messages go: Kafka (when brokers are given) and files, and at what pace.
struct Outputs {
    std::string brokers, topic, jsonl, csv;
    std::vector<std::string> kafka_properties;
    Partitioning partitioning = Partitioning::device;
    double rate = 0;
};

std::ofstream open_output(const std::string& path) {
    std::ofstream file;
    if (path.empty()) return file;
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + path);
    return file;
}

void close_output(std::ofstream& file, const std::string& path) {
    if (!file.is_open()) return;
    file.close();
    if (!file) throw std::runtime_error("cannot finish writing " + path);
}

/// Generates `g.events` commerce messages into the outputs; returns the run's summary. Kafka
/// messages are keyed by user_id (the seed producer's key) in device partitioning.
nlohmann::json run_commerce(const GeneratorOptions& g, double same_second_share, const Outputs& out) {
    CommerceGenerator generator(g, same_second_share);
    std::unique_ptr<KafkaWriter> kafka;
    std::int32_t partitions = 0;
    if (!out.brokers.empty()) {
        kafka = std::make_unique<KafkaWriter>(out.brokers, out.topic, out.kafka_properties);
        if (out.partitioning != Partitioning::device) partitions = kafka->partition_count(30000);
    }
    Partitioner partitioner(out.partitioning, g.seed, kafka ? partitions : 1);
    std::ofstream jsonl = open_output(out.jsonl), csv = open_output(out.csv);
    if (csv.is_open()) csv << starstream::bench::commerce_csv_header() << '\n';
    std::map<std::string, std::uint64_t> kinds, event_types;
    const auto started = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < g.events; ++i) {
        auto m = generator.next();
        ++kinds[to_string(m.kind)];
        if (m.kind == starstream::bench::CommerceKind::valid) ++event_types[m.event_type];
        const std::optional<std::int32_t> partition = partitioner.next(i);
        if (kafka) kafka->write(m.key, m.json, partition);
        if (jsonl.is_open()) jsonl << m.json << '\n';
        if (csv.is_open()) csv << m.csv << '\n';
        if (out.rate > 0 && i % 100 == 99)
            std::this_thread::sleep_until(started + std::chrono::duration<double>(double(i + 1) / out.rate));
    }
    if (kafka) kafka->flush(120000);
    close_output(jsonl, out.jsonl);
    close_output(csv, out.csv);
    const auto& disorder = generator.disorder();
    return {{"messages", g.events}, {"seed", g.seed}, {"start_time", g.start_time}, {"event_type", "commerce"},
            {"partitioning", to_string(out.partitioning)},
            {"elapsed_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()},
            {"kinds", kinds}, {"event_types", event_types}, {"late", disorder.late}, {"out_of_order", disorder.out_of_order},
            {"same_second_pairs", disorder.same_second_pairs}};
}

}  // namespace

int main(int argc, char** argv) {
    GeneratorOptions g;
    std::string brokers, topic, jsonl, partitioning_name, event_type, csv;
    std::vector<std::string> kafka_properties;
    double rate = 0, same_second_share = 0;
    po::options_description opts("starstream-generate options");
    opts.add_options()
        ("help,h", "show this help")
        ("event-type", po::value(&event_type)->default_value("product_view"),
         "product_view: the clickstream of EVENTS.md section 1; commerce: REES46 view/cart/remove_from_cart/purchase events (section 2)")
        ("events", po::value(&g.events)->default_value(100000), "messages to produce (malformed and duplicates included)")
        ("seed", po::value(&g.seed)->default_value(42), "random seed; the same seed gives the same bytes")
        ("start-time", po::value(&g.start_time), "event time of the first event, Unix seconds (default: now minus --span-seconds)")
        ("span-seconds", po::value(&g.span_seconds)->default_value(3600), "event time covered by the run, seconds")
        ("rate", po::value(&rate)->default_value(0), "messages per second of wall clock (0 = as fast as possible)")
        ("out-of-order-seconds", po::value(&g.out_of_order_seconds)->default_value(0), "each event moves back in time by up to this many seconds")
        ("late-share", po::value(&g.late_share)->default_value(0), "share of events moved back by --late-seconds (0..1)")
        ("late-seconds", po::value(&g.late_seconds)->default_value(3600), "how far late events move back, seconds")
        ("malformed-share", po::value(&g.malformed_share)->default_value(0), "share of malformed messages (0..1); product_view: bad JSON, missing id, wrong type, invalid UTF-8, oversized; "
         "commerce: unknown event type, negative or unparsable price, missing user_id, missing event_time/product_id/user_session")
        ("duplicate-share", po::value(&g.duplicate_share)->default_value(0), "share of messages repeating an earlier valid one (0..1)")
        ("brokers", po::value(&brokers), "Kafka bootstrap servers; produce there when given")
        ("topic", po::value(&topic), "Kafka topic (default: the pipeline's, product_view or commerce_events)")
        ("partitioning", po::value(&partitioning_name)->default_value("device"),
         "device: keyed by device id, for commerce by user id (a device's or user's events share a partition); round_robin: unkeyed, message i to partition "
         "i mod N; random: unkeyed, a partition drawn from the seed (the events' bytes do not change)")
        ("kafka-property", po::value(&kafka_properties)->composing(), "extra librdkafka producer property KEY=VALUE (repeatable)")
        ("jsonl", po::value(&jsonl), "also write every message as one line of this file")
        ("csv", po::value(&csv), "commerce only: also write every event as a CSV line (Kaggle header, times in UTC)")
        ("same-second-share", po::value(&same_second_share)->default_value(0),
         "commerce only: share of messages completing a view + cart pair of one user and product in one second (0..1)")
        ("uap-tests", po::value(&g.uap_test_yaml)->default_value(g.uap_test_yaml), "uap-core test cases: the User-Agent pool")
        ("geoip", po::value(&g.geoip_dat)->default_value(g.geoip_dat), "GeoIP country database: the IP pool");
    po::variables_map vm;
    Partitioning partitioning = Partitioning::device;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (!vm.count("start-time"))
            g.start_time = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() - g.span_seconds;
        if (event_type != "product_view" && event_type != "commerce")
            throw std::invalid_argument("--event-type " + event_type + ": expected product_view or commerce");
        if (event_type != "commerce" && (vm.count("csv") || !vm["same-second-share"].defaulted()))
            throw std::invalid_argument("--csv and --same-second-share need --event-type commerce");
        if (brokers.empty() && jsonl.empty() && csv.empty()) throw std::invalid_argument("give --brokers, --jsonl, --csv or a combination");
        if (topic.empty()) topic = event_type == "commerce" ? "commerce_events" : event_type;  // pipelines/*.yaml's topics
        partitioning = starstream::bench::parse_partitioning(partitioning_name);
    } catch (const std::exception& e) {
        std::cerr << "starstream-generate: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }

    if (event_type == "commerce") {
        try {
            std::cout << run_commerce(g, same_second_share, {brokers, topic, jsonl, csv, kafka_properties, partitioning, rate}).dump()
                      << std::endl;
        } catch (const std::exception& e) {
            std::cerr << "starstream-generate: " << e.what() << "\n";
            return 1;
        }
        return 0;
    }
    try {
        EventGenerator generator(g);
        std::unique_ptr<KafkaWriter> kafka;
        std::int32_t partitions = 0;
        if (!brokers.empty()) {
            kafka = std::make_unique<KafkaWriter>(brokers, topic, kafka_properties);
            if (partitioning != Partitioning::device) partitions = kafka->partition_count(30000);
        }
        Partitioner partitioner(partitioning, g.seed, kafka ? partitions : 1);
        std::ofstream file;
        if (!jsonl.empty()) {
            file.open(jsonl, std::ios::binary | std::ios::trunc);
            if (!file) throw std::runtime_error("cannot write " + jsonl);
        }
        std::map<std::string, std::uint64_t> counts;
        const auto started = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < g.events; ++i) {
            Message m = generator.next();
            ++counts[to_string(m.kind)];
            const std::optional<std::int32_t> partition = partitioner.next(i);
            if (kafka) kafka->write(m.key, m.value, partition);
            if (file) file << m.value << '\n';
            if (rate > 0 && i % 100 == 99)
                std::this_thread::sleep_until(started + std::chrono::duration<double>(double(i + 1) / rate));
        }
        if (kafka) kafka->flush(120000);
        if (file) {
            file.close();
            if (!file) throw std::runtime_error("cannot finish writing " + jsonl);
        }
        nlohmann::json summary = {{"messages", g.events}, {"seed", g.seed}, {"start_time", g.start_time},
                                  {"partitioning", to_string(partitioning)},
                                  {"elapsed_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()},
                                  {"kinds", counts}};
        std::cout << summary.dump() << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "starstream-generate: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
