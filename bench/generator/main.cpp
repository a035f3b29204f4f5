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

#include <librdkafka/rdkafka.h>

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
using starstream::bench::Message;
using starstream::bench::Partitioner;
using starstream::bench::Partitioning;

namespace {

/// Produces to one topic with lz4 compression; either the key (device id) picks the partition,
/// or the caller names it and the message goes unkeyed.
class KafkaWriter {
public:
    KafkaWriter(const std::string& brokers, std::string topic, const std::vector<std::string>& properties) : topic_(std::move(topic)) {
        char err[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        auto set = [&](const std::string& k, const std::string& v) {
            if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
                throw std::invalid_argument("kafka property " + k + ": " + err);
        };
        set("bootstrap.servers", brokers);
        set("compression.codec", "lz4");
        set("linger.ms", "20");
        set("batch.size", "1000000");
        set("queue.buffering.max.kbytes", "262144");
        set("enable.idempotence", "true");
        set("message.max.bytes", "2000000");
        for (const auto& p : properties) {
            auto eq = p.find('=');
            if (eq == std::string::npos) throw std::invalid_argument("--kafka-property " + p + ": expected KEY=VALUE");
            set(p.substr(0, eq), p.substr(eq + 1));
        }
        rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
            if (m->err) static_cast<KafkaWriter*>(opaque)->failed_ = rd_kafka_err2str(m->err);
        });
        rd_kafka_conf_set_opaque(conf, this);
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk_) throw std::runtime_error(std::string("cannot create producer: ") + err);
    }
    ~KafkaWriter() { rd_kafka_destroy(rk_); }

    /// The topic's partition count from broker metadata, waiting up to `timeout_ms`.
    std::int32_t partition_count(int timeout_ms) {
        rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, topic_.c_str(), nullptr);
        if (!topic) throw std::runtime_error("cannot open topic " + topic_);
        const rd_kafka_metadata_t* metadata = nullptr;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk_, 0, topic, &metadata, timeout_ms);
        rd_kafka_topic_destroy(topic);
        if (e) throw std::runtime_error("metadata of topic " + topic_ + ": " + rd_kafka_err2str(e));
        std::int32_t count = 0;
        rd_kafka_resp_err_t topic_error = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < metadata->topic_cnt; ++i) {
            if (topic_ != metadata->topics[i].topic) continue;
            count = metadata->topics[i].partition_cnt;
            topic_error = metadata->topics[i].err;
        }
        rd_kafka_metadata_destroy(metadata);
        if (topic_error) throw std::runtime_error("metadata of topic " + topic_ + ": " + rd_kafka_err2str(topic_error));
        return count;
    }

    /// Keyed by `m.key` when `partition` is empty, else unkeyed to that partition.
    void write(const Message& m, std::optional<std::int32_t> partition) {
        const bool keyed = !partition;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_PARTITION(partition.value_or(RD_KAFKA_PARTITION_UA)),
                RD_KAFKA_V_KEY(keyed ? m.key.data() : nullptr, keyed ? m.key.size() : 0),
                RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk_, 50);
                continue;
            }
            if (e) throw std::runtime_error(std::string("produce failed: ") + rd_kafka_err2str(e));
            break;
        }
        rd_kafka_poll(rk_, 0);
        if (!failed_.empty()) throw std::runtime_error("delivery failed: " + failed_);
    }

    /// Waits up to `timeout_ms` for every message to be acknowledged; throws on failure.
    void flush(int timeout_ms) {
        if (rd_kafka_flush(rk_, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
            throw std::runtime_error("not every message was delivered within " + std::to_string(timeout_ms) + " ms");
        if (!failed_.empty()) throw std::runtime_error("delivery failed: " + failed_);
    }

private:
    rd_kafka_t* rk_ = nullptr;
    std::string topic_;
    std::string failed_;
};

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
        // KafkaWriter takes a product_view Message; only its key and value are sent.
        if (kafka) kafka->write(Message{m.key, m.json, starstream::bench::MessageKind::valid}, partition);
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
        ("topic", po::value(&topic), "Kafka topic (default: the event type, product_view or commerce)")
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
        if (topic.empty()) topic = event_type;
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
            if (kafka) kafka->write(m, partition);
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
