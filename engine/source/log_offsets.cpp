#include "source/log_offsets.h"

#include "source/kafka_source.h"  // SourceConfigError, set_property

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string_view>

namespace starstream::engine {

namespace {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)>;

// Group membership is what this class must never have: without group.id the handle never
// looks up a coordinator, so it cannot join, rebalance or commit.
const char* const kGroupProperties[] = {"group.id", "group.instance.id"};

}  // namespace

LogOffsets::LogOffsets(const std::map<std::string, std::string>& properties, std::chrono::milliseconds timeout)
    : redactor_(properties), timeout_(timeout) {
    if (auto it = properties.find("bootstrap.servers"); it != properties.end()) bootstrap_ = it->second;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& key, const std::string& value) { set_property(conf, redactor_, key, value); };
    for (const auto& [key, value] : properties)
        if (std::find(std::begin(kGroupProperties), std::end(kGroupProperties), key) == std::end(kGroupProperties)) set(key, value);
    set("enable.auto.commit", "false");
    rd_kafka_conf_set_log_cb(conf, &LogOffsets::log_callback);
    rd_kafka_conf_set_error_cb(conf, &LogOffsets::error_callback);
    rd_kafka_conf_set_opaque(conf, this);
    handle_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!handle_) throw LogQueryError("cannot create a Kafka client: " + redactor_.redact(err));
}

LogOffsets::~LogOffsets() {
    // Never subscribed or assigned: nothing to close, no group to leave.
    rd_kafka_destroy(handle_);
}

std::optional<std::vector<std::int32_t>> LogOffsets::partitions(const std::string& topic) {
    const rd_kafka_metadata_t* raw = nullptr;
    if (rd_kafka_resp_err_t err = rd_kafka_metadata(handle_, 1, nullptr, &raw, timeout_ms()))
        throw failure("no metadata from the cluster", err);
    Metadata metadata(raw, &rd_kafka_metadata_destroy);
    for (int i = 0; i < metadata->topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& t = metadata->topics[i];
        if (topic != t.topic) continue;
        if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::nullopt;
        if (t.err) throw failure("no metadata for topic '" + topic + "'", t.err);
        std::vector<std::int32_t> ids;
        for (int p = 0; p < t.partition_cnt; ++p) ids.push_back(t.partitions[p].id);
        std::sort(ids.begin(), ids.end());
        return ids;
    }
    return std::nullopt;
}

LogRange LogOffsets::range(const TopicPartition& tp) {
    LogRange r;
    if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(handle_, tp.topic.c_str(), tp.partition, &r.log_start, &r.log_end, timeout_ms()))
        throw failure("no log offsets for " + tp.to_string(), err);
    return r;
}

std::map<TopicPartition, std::int64_t> LogOffsets::offsets_for_time(const std::vector<TopicPartition>& partitions, std::int64_t timestamp_ms) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())), &rd_kafka_topic_partition_list_destroy);
    // The request carries the timestamp in the offset field; the answer replaces it.
    for (const auto& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = timestamp_ms;
    if (rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(handle_, list.get(), timeout_ms()))
        throw failure("no offsets for timestamp " + std::to_string(timestamp_ms) + " ms", err);
    std::map<TopicPartition, std::int64_t> offsets;
    for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& e = list->elems[i];
        const TopicPartition tp{e.topic, e.partition};
        if (e.err) throw failure("no offset for timestamp " + std::to_string(timestamp_ms) + " ms in " + tp.to_string(), e.err);
        offsets[tp] = e.offset < 0 ? kNoOffset : e.offset;
    }
    return offsets;
}

std::optional<std::string> LogOffsets::record(const TopicPartition& tp, std::int64_t offset) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> topic(rd_kafka_topic_new(handle_, tp.topic.c_str(), nullptr),
                                                                              &rd_kafka_topic_destroy);
    if (!topic || rd_kafka_consume_start(topic.get(), tp.partition, offset) == -1)
        throw failure("cannot read " + tp.to_string() + " at offset " + std::to_string(offset), rd_kafka_last_error());
    std::optional<std::string> value;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> m(
            rd_kafka_consume(topic.get(), tp.partition, static_cast<int>(std::max<std::int64_t>(left.count(), 1))), &rd_kafka_message_destroy);
        if (!m) continue;
        // An error (out of range, partition end) or a later record: the one asked for is gone.
        if (!m->err && m->offset == offset) value.emplace(static_cast<const char*>(m->payload), m->len);
        break;
    }
    rd_kafka_consume_stop(topic.get(), tp.partition);
    return value;
}

LogQueryError LogOffsets::failure(const std::string& what, rd_kafka_resp_err_t err) {
    rd_kafka_poll(handle_, 0);  // serves queued error events: they say why (refused, unreachable)
    std::string message = what + " (bootstrap.servers " + bootstrap_ + ", waited at most " + std::to_string(timeout_.count()) +
                          " ms): " + rd_kafka_err2str(err);
    if (!last_error_.empty()) message += "; last client error: " + last_error_;
    return LogQueryError(message);
}

void LogOffsets::error_callback(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<LogOffsets*>(opaque);
    self->last_error_ = self->redactor_.redact(reason ? reason : rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)));
}

void LogOffsets::log_callback(const rd_kafka_t* rk, int, const char* facility, const char* line) {
    // Debug only: a command-line tool reports failures once, in its error message.
    const auto* self = static_cast<const LogOffsets*>(rd_kafka_opaque(rk));
    spdlog::debug("kafka {}: {}", facility, self ? self->redactor_.redact(line) : std::string("(line withheld: no redactor yet)"));
}

}  // namespace starstream::engine
