#include "source/kafka_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace starstream::engine {

namespace {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)>;

PartitionList make_list(const std::vector<TopicPartition>& partitions) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())), &rd_kafka_topic_partition_list_destroy);
    for (const auto& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    return list;
}

std::vector<TopicPartition> from_list(const rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartition> out;
    for (int i = 0; i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
    return out;
}

// Properties whose value the engine decides; a user setting them would break exactly-once.
const char* const kOwnedProperties[] = {"enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof", "auto.commit.enable",
                                        "auto.commit.interval.ms", "rebalance_cb", "offset_commit_cb", "auto.offset.reset"};

/// What a report of a security failure says about the client's side (no secret).
std::string security_settings(const std::map<std::string, std::string>& properties) {
    auto value = [&](const char* key, const char* fallback) {
        const auto it = properties.find(key);
        return it == properties.end() ? std::string(fallback) : it->second;
    };
    std::string out = "security.protocol " + value("security.protocol", "plaintext");
    if (properties.count("sasl.mechanisms") || properties.count("sasl.mechanism") || properties.count("sasl.username"))
        out += ", sasl.mechanisms " + value("sasl.mechanisms", value("sasl.mechanism", "GSSAPI").c_str()) + ", sasl.username " + value("sasl.username", "(none)");
    return out;
}

/// librdkafka's log levels are syslog's (0 emergency .. 7 debug).
spdlog::level::level_enum log_level(int syslog_level) {
    if (syslog_level <= 2) return spdlog::level::critical;
    if (syslog_level == 3) return spdlog::level::err;
    if (syslog_level == 4) return spdlog::level::warn;
    if (syslog_level <= 6) return spdlog::level::info;
    return spdlog::level::debug;
}

}  // namespace

void set_property(rd_kafka_conf_t* conf, const SecretRedactor& redactor, const std::string& key, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) return;
    rd_kafka_conf_destroy(conf);
    throw SourceConfigError(key, redactor.redact(err));
}

KafkaSource::KafkaSource(const std::map<std::string, std::string>& properties, std::vector<std::string> topics,
                         StartingOffsets starting, RebalanceListener& listener)
    : redactor_(properties), security_settings_(security_settings(properties)), topics_(std::move(topics)), starting_(starting), listener_(listener) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& key, const std::string& value) { set_property(conf, redactor_, key, value); };
    // Defaults the user may change.
    set("partition.assignment.strategy", "range");
    set("group.id", "starstream");
    // Per partition (each has its own queue, PartitionQueues): a partition's queue is fetched
    // while it holds less than this (decompressed values), so it holds at most this plus one
    // fetch (max.partition.fetch.bytes compressed, a few times that decompressed). A queue over
    // the limit is fetched again at its broker's next wake-up, up to a second later in
    // librdkafka 2.0 (no wake-up when the application drains it): 512 halved throughput.
    set("queued.max.messages.kbytes", "1024");
    // librdkafka 2.0 lowers an unset fetch.max.bytes to queued.max.messages.kbytes (conf.c),
    // which per partition would cap each fetch request at 1 MiB for all of a broker's partitions.
    set("fetch.max.bytes", "52428800");
    // A partition released by watermark alignment after its queue ran dry is fetched after the
    // fetch in flight returns: librdkafka's 500 ms made an aligned backlog 4-5x slower.
    set("fetch.wait.max.ms", "100");
    // Partitions added to a topic are noticed at the next metadata refresh (librdkafka: 5 min).
    set("topic.metadata.refresh.interval.ms", "30000");
    for (const auto& [key, value] : properties) {
        if (std::find(std::begin(kOwnedProperties), std::end(kOwnedProperties), key) != std::end(kOwnedProperties)) {
            rd_kafka_conf_destroy(conf);
            throw SourceConfigError(key, key == "auto.offset.reset"
                                             ? "is owned by starstream: set source.offset_out_of_range (earliest | latest | fail) and source.starting_offsets instead"
                                             : "is owned by starstream (offsets live in Postgres); remove it");
        }
        if (key == "partition.assignment.strategy" && value.find("cooperative-sticky") != std::string::npos) {
            rd_kafka_conf_destroy(conf);
            throw SourceConfigError(key, "cooperative-sticky is unsafe in librdkafka 2.0 (wrong resume positions); use range or roundrobin");
        }
        set(key, value);
    }
    // Settings the engine owns, forced last.
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    set("enable.partition.eof", "true");
    // A position outside the log is reported, never silently moved (DESIGN.md invariant 10):
    // the owner of the checkpoint decides and records the gap.
    set("auto.offset.reset", "error");
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::rebalance_callback);
    rd_kafka_conf_set_error_cb(conf, &KafkaSource::error_callback);
    rd_kafka_conf_set_log_cb(conf, &KafkaSource::log_callback);
    rd_kafka_conf_set_opaque(conf, this);
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!consumer_) throw std::runtime_error("cannot create the Kafka consumer: " + redactor_.redact(err));
    rd_kafka_poll_set_consumer(consumer_);
    try {
        queues_ = std::make_unique<PartitionQueues>(consumer_);
    } catch (...) {
        rd_kafka_destroy(consumer_);
        throw;
    }
}

KafkaSource::~KafkaSource() {
    if (!closed_) rd_kafka_consumer_close(consumer_);
    queues_.reset();
    rd_kafka_destroy(consumer_);
}

bool KafkaSource::check_reachable(std::chrono::milliseconds timeout) {
    // Ask for every topic's metadata: asking for one topic by name may auto-create it.
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(consumer_, 1, nullptr, &metadata, static_cast<int>(timeout.count()));
    if (err) return false;
    connection_works();
    std::string missing;
    topic_partitions_.clear();
    for (const auto& topic : topics_) {
        int partitions = -1;
        for (int i = 0; i < metadata->topic_cnt; ++i)
            if (topic == metadata->topics[i].topic && !metadata->topics[i].err) partitions = metadata->topics[i].partition_cnt;
        if (partitions < 0) {
            missing += (missing.empty() ? "" : ", ") + topic;
        } else {
            spdlog::info("kafka topic {} has {} partitions", topic, partitions);
            for (int p = 0; p < partitions; ++p) topic_partitions_.push_back({topic, p});
        }
    }
    rd_kafka_metadata_destroy(metadata);
    if (!missing.empty()) throw std::runtime_error("topic(s) not found on the cluster: " + missing + " (source.topics)");
    return true;
}

void KafkaSource::recheck_connection(std::chrono::milliseconds timeout) {
    if (security_failure_.empty()) return;
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer_, 0, nullptr, &metadata, static_cast<int>(timeout.count())) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    rd_kafka_metadata_destroy(metadata);
    connection_works();
}

void KafkaSource::subscribe() {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())), &rd_kafka_topic_partition_list_destroy);
    for (const auto& topic : topics_) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, list.get()))
        throw std::runtime_error(std::string("cannot subscribe: ") + rd_kafka_err2str(err));
}

void KafkaSource::serve_events(std::chrono::milliseconds timeout) {
    // Before subscribe() no message can arrive, so this only serves callbacks.
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, static_cast<int>(timeout.count()))) rd_kafka_message_destroy(m);
    if (!fatal_error_.empty()) throw std::runtime_error("fatal Kafka consumer error: " + fatal_error_);
}

void KafkaSource::throw_if_failed() const {
    if (!listener_failure_.empty()) throw std::runtime_error("partition assignment failed: " + listener_failure_);
    if (!fatal_error_.empty()) throw std::runtime_error("fatal Kafka consumer error: " + fatal_error_);
}

PollResult KafkaSource::poll(std::chrono::milliseconds timeout, bool take_records) {
    // The consumer queue first: rebalances run in there (they replace the partition queues),
    // and errors, or a record that reached it before its partition's queue was taken out.
    // Checked every kEventsEvery records (a lock per call otherwise), and always before waiting.
    constexpr int kEventsEvery = 64;
    for (int round = 0; round < 2; ++round) {
        if (!take_records || round > 0 || ++records_since_events_ >= kEventsEvery) {
            records_since_events_ = 0;
            if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 0)) return take(m);
            throw_if_failed();
        }
        if (take_records)
            if (rd_kafka_message_t* m = queues_->next(aligned_)) return take(m);
        if (round == 0 && timeout.count() > 0) queues_->wait(timeout);
    }
    return {};
}

PollResult KafkaSource::take(rd_kafka_message_t* m) {
    PollResult result;
    if (!listener_failure_.empty() || !fatal_error_.empty()) {
        rd_kafka_message_destroy(m);
        throw_if_failed();
    }
    if (!m->err) {
        connection_works();
        result.record.emplace(m);
        return result;
    }
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
        result.out_of_range = OffsetOutOfRange{{rd_kafka_topic_name(m->rkt), m->partition}, m->offset};
        spdlog::debug("kafka {}: {}", result.out_of_range->partition.to_string(), rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return result;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        connection_works();
        result.end_of_partition = TopicPartition{m->rkt ? rd_kafka_topic_name(m->rkt) : "", m->partition};
        result.end_offset = m->offset;  // librdkafka: the fetch position at which the end was reached
        rd_kafka_message_destroy(m);
        return result;
    }
    const std::string what = rd_kafka_message_errstr(m);
    const rd_kafka_resp_err_t err = m->err;
    rd_kafka_message_destroy(m);
    on_error(err, what);
    if (!fatal_error_.empty()) throw std::runtime_error("fatal Kafka consumer error: " + fatal_error_);
    return result;
}

void KafkaSource::error_callback(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<KafkaSource*>(opaque)->on_error(static_cast<rd_kafka_resp_err_t>(err), reason ? reason : "");
}

void KafkaSource::log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
    const auto* self = static_cast<const KafkaSource*>(rd_kafka_opaque(rk));
    // FAIL and ERROR lines repeat what the error callback reports (once, for security failures).
    const bool repeats_error = std::string_view(facility) == "FAIL" || std::string_view(facility) == "ERROR";
    spdlog::log(repeats_error ? spdlog::level::debug : log_level(level), "kafka {}: {}", facility, self ? self->redactor_.redact(line) : std::string(line));
}

void KafkaSource::on_error(rd_kafka_resp_err_t err, const std::string& raw_reason) {
    const std::string reason = redactor_.redact(raw_reason);
    ++errors_;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        fatal_error_ = rd_kafka_fatal_error(consumer_, fatal, sizeof fatal) ? redactor_.redact(fatal) : reason;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
        ++security_failures_;
        if (!security_failure_.empty()) {
            spdlog::debug("kafka {} refused again: {}", err == RD_KAFKA_RESP_ERR__SSL ? "TLS handshake" : "SASL authentication", reason);
            return;
        }
        security_failure_ = std::string(err == RD_KAFKA_RESP_ERR__SSL ? "TLS handshake failed" : "SASL authentication failed") + " (" +
                            security_settings_ + "): " + reason;
        spdlog::error("kafka {}. Nothing is consumed until it succeeds; librdkafka retries with backoff "
                      "(reconnect.backoff.ms .. reconnect.backoff.max.ms) and /readyz answers 503. Fix the credentials, "
                      "mechanism or CA (ssl.ca.location) and restart; consuming also starts by itself once the cluster accepts us.",
                      security_failure_);
        return;
    }
    // While a security failure lasts, "brokers down" and disconnects are its consequences.
    spdlog::log(security_failure_.empty() ? spdlog::level::warn : spdlog::level::debug, "kafka error (retried by librdkafka): {}", reason);
}

void KafkaSource::connection_works() {
    if (security_failure_.empty()) return;
    spdlog::info("kafka connection accepted ({} refused attempt(s) so far); consuming", security_failures_);
    security_failure_.clear();
}

void KafkaSource::reassign(const std::map<TopicPartition, std::int64_t>& next_offsets) {
    std::vector<TopicPartition> partitions;
    for (const auto& [tp, offset] : next_offsets) partitions.push_back(tp);
    PartitionList list = make_list(partitions);
    for (int i = 0; i < list->cnt; ++i) {
        const std::int64_t offset = next_offsets.at(partitions[static_cast<std::size_t>(i)]);
        const std::int64_t fallback = starting_ == StartingOffsets::earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        list->elems[i].offset = offset >= 0 ? offset : offset == kFromLogStart ? RD_KAFKA_OFFSET_BEGINNING : fallback;
    }
    queues_->adopt(partitions);
    if (rd_kafka_resp_err_t err = rd_kafka_assign(consumer_, list.get()))
        throw std::runtime_error(std::string("cannot reposition the assigned partitions: ") + rd_kafka_err2str(err));
    assigned_ = std::move(partitions);
    aligned_.clear();
}

std::pair<std::int64_t, std::int64_t> KafkaSource::query_log_bounds(const TopicPartition& tp, std::chrono::milliseconds timeout) {
    std::int64_t low = -1, high = -1;
    if (rd_kafka_query_watermark_offsets(consumer_, tp.topic.c_str(), tp.partition, &low, &high, static_cast<int>(timeout.count())))
        return {-1, -1};
    return {low, high};
}

void KafkaSource::hold_for_alignment(const std::set<TopicPartition>& partitions) {
    std::set<TopicPartition> held;
    for (const auto& tp : assigned_)
        if (partitions.count(tp)) held.insert(tp);
    aligned_ = std::move(held);
}

std::pair<std::int64_t, std::int64_t> KafkaSource::watermarks(const TopicPartition& tp) const {
    std::int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(consumer_, tp.topic.c_str(), tp.partition, &low, &high)) return {-1, -1};
    return {low, high};
}

void KafkaSource::commit_async(const std::map<TopicPartition, std::int64_t>& next_offsets) {
    if (next_offsets.empty()) return;
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())), &rd_kafka_topic_partition_list_destroy);
    for (const auto& [tp, offset] : next_offsets)
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    if (rd_kafka_resp_err_t err = rd_kafka_commit(consumer_, list.get(), 1))
        spdlog::debug("kafka group commit not sent: {}", rd_kafka_err2str(err));
}

void KafkaSource::close() {
    if (closed_) return;
    closed_ = true;
    if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_))
        spdlog::warn("kafka consumer close: {}", rd_kafka_err2str(err));
}

void KafkaSource::rebalance_callback(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list, void* opaque) {
    static_cast<KafkaSource*>(opaque)->on_rebalance(err, list);
}

void KafkaSource::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartition> partitions = from_list(list);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        std::map<TopicPartition, PartitionPosition> positions;
        try {
            positions = listener_.on_assigned(partitions);
        } catch (const std::exception& e) {
            listener_failure_ = e.what();
            rd_kafka_assign(consumer_, nullptr);
            queues_->clear();
            return;
        }
        const std::int64_t fallback = starting_ == StartingOffsets::earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        for (int i = 0; i < list->cnt; ++i) {
            auto it = positions.find(partitions[i]);
            const std::int64_t next = it != positions.end() ? it->second.next_offset : -1;
            list->elems[i].offset = next >= 0 ? next : next == kFromLogStart ? RD_KAFKA_OFFSET_BEGINNING : fallback;
        }
        queues_->adopt(partitions);
        rd_kafka_assign(consumer_, list);
        assigned_ = partitions;
        aligned_.clear();
        spdlog::info("kafka assigned {} partitions", partitions.size());
    } else {
        try {
            listener_.on_revoked(partitions);
        } catch (const std::exception& e) {
            spdlog::error("flushing revoked partitions failed: {}", e.what());
        }
        rd_kafka_assign(consumer_, nullptr);
        queues_->clear();
        assigned_.clear();
        aligned_.clear();
        spdlog::info("kafka revoked {} partitions", partitions.size());
    }
}

}  // namespace starstream::engine
