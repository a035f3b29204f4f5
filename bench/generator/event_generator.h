// Deterministic generator of realistic product_view messages (format: ../shared/EVENTS.md).
//
// Visits: a pool of open visits, each a device with its IP, User-Agent, store and screen;
// every event continues an open visit or starts a new one, so a device emits bursts of
// events seconds to minutes apart, then goes quiet. Event time advances evenly over
// `span_seconds` from `start_time`, plus the configured disorder. Thread rules: one thread.
#pragma once

#include "reference_data.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace starstream::bench {

struct GeneratorOptions {
    std::uint64_t seed = 42;
    std::int64_t start_time = 0;       ///< event time of the first event, Unix seconds (UTC)
    std::int64_t span_seconds = 3600;  ///< event time covered by the whole run, seconds
    std::uint64_t events = 100000;     ///< messages to produce, malformed and duplicates included
    double out_of_order_seconds = 0;   ///< each event's time moves back by up to this many seconds
    double late_share = 0;             ///< share of events moved back by `late_seconds`
    double late_seconds = 3600;
    double malformed_share = 0;        ///< share of messages that are not valid events
    double duplicate_share = 0;        ///< share of messages that repeat an earlier valid message
    std::string uap_test_yaml = "/usr/share/uap-core/tests/test_ua.yaml";
    std::string geoip_dat = "/usr/share/GeoIP/GeoIP.dat";
};

/// What a message is, so callers can count and tests can cross-check.
enum class MessageKind { valid, duplicate, bad_json, missing_id, wrong_type, invalid_utf8, oversized };
const char* to_string(MessageKind kind);

struct Message {
    std::string key;    ///< device id: keeps one device's events in one partition, in order
    std::string value;  ///< the JSON bytes (for malformed kinds: whatever the kind makes of them)
    MessageKind kind;
};

class EventGenerator {
public:
    /// Loads the reference pools; throws std::runtime_error when a reference file is missing.
    explicit EventGenerator(GeneratorOptions options);
    /// The next message; call exactly `options.events` times.
    Message next();

private:
    struct Visit {
        std::string device_id, ip, user_agent, resolution, customer_id;
        std::size_t store = 0;
        std::string last_url;
        int events_left = 0;
    };

    std::string valid_event(Visit& visit, std::string& key);
    Message malformed(std::string event, std::string key);
    Visit new_visit();
    std::string uuid();
    std::string shop_origin(const StoreFigure& store);
    std::string product_url(const StoreFigure& store, int product_index, bool with_options);
    std::string page_url(const StoreFigure& store, const std::string& collection);
    std::string options_json(int product_index);
    std::int64_t event_time();

    GeneratorOptions options_;
    std::mt19937_64 rng_;
    std::vector<StoreFigure> stores_;
    std::discrete_distribution<std::size_t> store_choice_;
    std::discrete_distribution<std::size_t> collection_choice_;
    std::vector<int> product_ids_;
    std::discrete_distribution<std::size_t> product_choice_;
    UserAgentPool user_agents_;
    IpPool ips_;
    std::vector<Visit> visits_;
    std::vector<Message> recent_valid_;  ///< ring of earlier valid messages, for duplicates
    std::uint64_t produced_ = 0;
};

}  // namespace starstream::bench
