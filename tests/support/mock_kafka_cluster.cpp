// starstream-mock-kafka: a local Kafka for development and tests.
//
// Starts librdkafka's mock cluster (the real Kafka protocol, in process; see
// rdkafka_mock.h) with N brokers and the requested topics, prints the bootstrap servers on
// one line of stdout ("bootstrap.servers=HOST:PORT,...") and serves until SIGTERM or SIGINT.
//
// Broker faults (for chaos tests): commands on stdin, one a line, each answered with one line
// on stdout once applied, so a test knows when the fault is in place:
//   down <broker_id>       the broker closes its connections and refuses new ones
//   up <broker_id>         it serves again
//   rtt <broker_id> <ms>   every response of that broker is delayed by ms (0: none)
// Answers: "ok <command>" or "error <command>: <why>". End of stdin just ends the channel (the
// cluster serves on). Broker ids are 1..--brokers.
//
// Limits (librdkafka 2.0.2, measured in ../shared/DESIGN.md): each partition keeps about
// 5 MB of batches and silently moves its log start offset past older ones, so spread data
// over enough partitions, compress it, or produce while the consumer runs.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/program_options.hpp>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;

namespace {

struct TopicSpec {
    std::string name;
    int partitions;
};

/// Parses "name" or "name:partitions"; throws std::invalid_argument on a bad count.
TopicSpec parse_topic(const std::string& text, int default_partitions) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return {text, default_partitions};
    int partitions = std::stoi(text.substr(colon + 1));
    if (partitions < 1) throw std::invalid_argument("topic '" + text + "': partitions must be >= 1");
    return {text.substr(0, colon), partitions};
}

/// Applies one stdin command to the cluster; returns the answer line (without newline).
std::string apply_command(rd_kafka_mock_cluster_t* cluster, const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    std::int32_t broker = -1;
    in >> verb >> broker;
    if (!in) return "error " + line + ": expected down|up|rtt <broker_id> [ms]";
    rd_kafka_resp_err_t err;
    if (verb == "down") {
        err = rd_kafka_mock_broker_set_down(cluster, broker);
    } else if (verb == "up") {
        err = rd_kafka_mock_broker_set_up(cluster, broker);
    } else if (verb == "rtt") {
        int rtt_ms = -1;
        if (!(in >> rtt_ms) || rtt_ms < 0) return "error " + line + ": expected rtt <broker_id> <ms>";
        err = rd_kafka_mock_broker_set_rtt(cluster, broker, rtt_ms);
    } else {
        return "error " + line + ": unknown command (down|up|rtt)";
    }
    if (err) return "error " + line + ": " + rd_kafka_err2str(err);
    return "ok " + line;
}

/// The command channel: reads stdin until end of file; answers go to stdout, one line each.
/// Runs on its own thread; the mock functions it calls post to the cluster's thread.
void serve_commands(rd_kafka_mock_cluster_t* cluster) {
    for (std::string line; std::getline(std::cin, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty()) continue;
        const std::string answer = apply_command(cluster, line);
        std::cout << answer << std::endl;
        std::cerr << "starstream-mock-kafka: " << answer << std::endl;
    }
}

}  // namespace

int main(int argc, char** argv) {
    int brokers = 3;
    int partitions = 24;
    std::vector<std::string> topics;
    std::string bootstrap_file;
    po::options_description opts("starstream-mock-kafka options");
    opts.add_options()
        ("help,h", "show this help")
        ("brokers", po::value(&brokers)->default_value(3), "number of mock brokers")
        ("partitions", po::value(&partitions)->default_value(24), "default partitions per topic")
        ("topic", po::value(&topics)->composing(), "topic to create, NAME or NAME:PARTITIONS (repeatable; default product_view)")
        ("bootstrap-file", po::value(&bootstrap_file), "also write the bootstrap servers to this file (written after the cluster is up)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "starstream-mock-kafka: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if (topics.empty()) topics.push_back("product_view");

    // Block the stop signals before librdkafka starts its threads, so that only sigwait sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> host(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr), &rd_kafka_destroy);
    if (!host) {
        std::cerr << "starstream-mock-kafka: cannot create the host client: " << errstr << "\n";
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host.get(), brokers);
    if (!cluster) {
        std::cerr << "starstream-mock-kafka: cannot start a mock cluster of " << brokers << " brokers\n";
        return 1;
    }
    for (const auto& text : topics) {
        TopicSpec spec;
        try {
            spec = parse_topic(text, partitions);
        } catch (const std::exception& e) {
            std::cerr << "starstream-mock-kafka: --topic " << text << ": " << e.what() << "\n";
            return 2;
        }
        int replication = brokers < 3 ? brokers : 3;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, spec.name.c_str(), spec.partitions, replication);
        if (err) {
            std::cerr << "starstream-mock-kafka: cannot create topic " << spec.name << ": " << rd_kafka_err2str(err) << "\n";
            return 1;
        }
    }

    const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    if (!bootstrap_file.empty()) {
        std::ofstream(bootstrap_file + ".tmp") << bootstrap << "\n";
        std::rename((bootstrap_file + ".tmp").c_str(), bootstrap_file.c_str());
    }
    std::cout << "bootstrap.servers=" << bootstrap << std::endl;
    std::cerr << "starstream-mock-kafka: " << brokers << " brokers, topics:";
    for (const auto& t : topics) std::cerr << " " << t;
    std::cerr << "; serving until SIGTERM" << std::endl;

    // Detached: it may be blocked reading stdin when the stop signal comes; _exit below ends it.
    std::thread(serve_commands, cluster).detach();

    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::cerr << "starstream-mock-kafka: signal " << sig << ", stopping" << std::endl;
    rd_kafka_mock_cluster_destroy(cluster);
    host.reset();
    std::cout.flush();
    std::_Exit(0);  // not exit(): static destructors would race the command thread
}
