// starstream-load: REES46 commerce events (../shared/EVENTS.md section 2) from CSV or JSONL
// files into a Kafka topic, as JSON in the seed producer's shape (event_encoding.h).
//
//   starstream-load --brokers HOST:PORT [--topic commerce_events] [--key user] events.csv ...
//
// Data flow: source (csv_source.h, jsonl_source.h) -> validation (commerce_validation.h) ->
// event id (event_id.h) -> encoding (event_encoding.h) -> Kafka (common/kafka_writer.h); a
// record failing any step goes to the reject file (reject_log.h) with its line and reason and
// the load goes on. Every delivery report is awaited before the summary.
//
// Prints a JSON summary on stdout: files, rows_read (records, headers and blank lines not
// counted), blank_lines, sent (acknowledged by the brokers), rejected, rejected_by_reason
// (reasons that occurred), delivery_failed, reject_files, elapsed_seconds, events_per_second
// (sent / elapsed), and "error" when the load stopped.
// Exit codes: 0 every valid row delivered (rejects included); 1 a Kafka, delivery or file
// error; 2 bad options (a Kafka property librdkafka refuses included) or an input that cannot
// be read (a missing file, a CSV header without the nine columns), found before anything is sent.
#include "common/kafka_writer.h"
#include "commerce_validation.h"
#include "csv_source.h"
#include "event_encoding.h"
#include "event_id.h"
#include "jsonl_source.h"
#include "reject_log.h"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>

namespace po = boost::program_options;
using namespace starstream::bench::loader;
using starstream::bench::KafkaWriter;

namespace {

enum class KeyMode { none, user, session };

struct Input {
    std::string path;
    std::unique_ptr<RowSource> source;
};

struct Counts {
    std::uint64_t rows_read = 0, blank_lines = 0, rejected = 0;
    std::map<std::string, std::uint64_t> by_reason;
};

KeyMode parse_key_mode(const std::string& text) {
    if (text == "none") return KeyMode::none;
    if (text == "user") return KeyMode::user;
    if (text == "session") return KeyMode::session;
    throw std::invalid_argument("--key " + text + ": expected none, user or session");
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The file's source for --format (csv, jsonl, or auto: by extension).
std::unique_ptr<RowSource> open_source(const std::string& path, const std::string& format) {
    std::string f = format;
    if (f == "auto") {
        if (ends_with(path, ".csv")) f = "csv";
        else if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson") || ends_with(path, ".json")) f = "jsonl";
        else throw std::invalid_argument(path + ": cannot tell the format from the extension (.csv, .jsonl); give --format");
    }
    if (f == "csv") return std::make_unique<CsvSource>(path);
    if (f == "jsonl") return std::make_unique<JsonlSource>(path);
    throw std::invalid_argument("--format " + format + ": expected csv, jsonl or auto");
}

/// Reads every record of `input`, sends the valid ones, logs the others.
void load(Input& input, KeyMode key_mode, std::size_t max_message_bytes, KafkaWriter& kafka, RejectLog& rejects, Counts& counts) {
    SourceRecord record;
    CommerceEvent event;
    EventEncoder encoder;
    std::string id;
    while (input.source->next(record)) {
        ++counts.rows_read;
        std::optional<Reject> reject = record.reject;
        if (!reject) reject = validate(record.row, event);
        std::string_view value;
        if (!reject) {
            event_id(event, id);
            value = encoder.encode(event, id);
            // Checked here rather than left to the producer, whose refusal would end the load.
            if (value.size() > max_message_bytes)
                reject = Reject{RejectReason::message_too_large,
                                std::to_string(value.size()) + " bytes as JSON, more than --max-message-bytes " + std::to_string(max_message_bytes)};
        }
        if (reject) {
            ++counts.rejected;
            ++counts.by_reason[to_string(reject->reason)];
            rejects.write(input.path, record, *reject);
            continue;
        }
        switch (key_mode) {
            case KeyMode::none: kafka.write_unkeyed(value); break;
            case KeyMode::user: kafka.write(record.row.user_id, value, std::nullopt); break;
            case KeyMode::session: kafka.write(record.row.user_session, value, std::nullopt); break;
        }
    }
    counts.blank_lines += input.source->blank_lines();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> files, kafka_properties;
    std::string brokers, topic, key_name, format, rejects_path;
    int flush_timeout_ms = 0;
    std::size_t max_message_bytes = 0;
    po::options_description opts("starstream-load [options] FILE...");
    opts.add_options()
        ("help,h", "show this help")
        ("brokers", po::value(&brokers), "Kafka bootstrap servers (required)")
        ("topic", po::value(&topic)->default_value("commerce_events"), "Kafka topic (pipelines/commerce_events.yaml's)")
        ("key", po::value(&key_name)->default_value("user"),
         "message key: user (user_id, as the seed producer: a user's events share a partition, in file order), "
         "session (user_session) or none (no key: librdkafka's sticky partitioner spreads batches)")
        ("format", po::value(&format)->default_value("auto"), "csv, jsonl, or auto (by extension: .csv; .jsonl, .ndjson, .json)")
        ("rejects", po::value(&rejects_path),
         "reject file (JSONL: file, line, reason, detail, record) for all inputs (default: FILE.rejects.jsonl next to each input)")
        ("kafka-property", po::value(&kafka_properties)->composing(), "extra librdkafka producer property KEY=VALUE (repeatable; SASL/TLS)")
        ("max-message-bytes", po::value(&max_message_bytes)->default_value(1000000),
         "larger messages are rejected (message_too_large), not sent: Kafka brokers refuse more than 1 MB by default "
         "(above 2000000, raise the producer's message.max.bytes with --kafka-property too)")
        ("flush-timeout-ms", po::value(&flush_timeout_ms)->default_value(300000), "how long to wait for the last delivery reports, ms")
        ("input", po::value(&files)->composing(), "input files (positional)");
    po::positional_options_description positional;
    positional.add("input", -1);
    po::variables_map vm;
    KeyMode key_mode = KeyMode::user;
    std::vector<Input> inputs;
    std::unique_ptr<KafkaWriter> kafka;
    try {
        po::store(po::command_line_parser(argc, argv).options(opts).positional(positional).run(), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << opts;
            return 0;
        }
        if (brokers.empty()) throw std::invalid_argument("--brokers is required");
        if (files.empty()) throw std::invalid_argument("give at least one input file");
        key_mode = parse_key_mode(key_name);
        for (const auto& f : files) inputs.push_back({f, open_source(f, format)});  // headers checked before anything is sent
        kafka = std::make_unique<KafkaWriter>(brokers, topic, kafka_properties);    // a property librdkafka refuses
    } catch (const std::exception& e) {
        std::cerr << "starstream-load: " << e.what() << "\n";
        return 2;
    }

    Counts counts;
    std::string error;
    std::vector<std::string> reject_files;
    const auto started = std::chrono::steady_clock::now();
    try {
        std::unique_ptr<RejectLog> shared_log;
        if (!rejects_path.empty()) {
            shared_log = std::make_unique<RejectLog>(rejects_path);
            reject_files.push_back(rejects_path);
        }
        for (auto& input : inputs) {
            std::unique_ptr<RejectLog> own_log;
            if (!shared_log) {
                own_log = std::make_unique<RejectLog>(input.path + ".rejects.jsonl");
                reject_files.push_back(own_log->path());
            }
            load(input, key_mode, max_message_bytes, *kafka, shared_log ? *shared_log : *own_log, counts);
            if (own_log) own_log->close();
        }
        if (shared_log) shared_log->close();
        kafka->flush(flush_timeout_ms);
    } catch (const std::exception& e) {
        error = e.what();
        try {
            kafka->flush(flush_timeout_ms);  // what was produced before the error still counts
        } catch (const std::exception&) {
        }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::uint64_t sent = kafka->delivered();
    nlohmann::ordered_json summary = {{"files", files.size()}, {"topic", topic}, {"key", key_name},
                                      {"rows_read", counts.rows_read}, {"blank_lines", counts.blank_lines},
                                      {"sent", sent}, {"rejected", counts.rejected}, {"rejected_by_reason", counts.by_reason},
                                      {"delivery_failed", kafka->failed()}, {"reject_files", reject_files},
                                      {"elapsed_seconds", elapsed}, {"events_per_second", elapsed > 0 ? double(sent) / elapsed : 0.0}};
    if (!error.empty()) summary["error"] = error;
    std::cout << summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
    if (!error.empty()) {
        std::cerr << "starstream-load: " << error << "\n";
        return 1;
    }
    return 0;
}
