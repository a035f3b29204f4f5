// LogOffsets: what a Kafka partition's log holds, asked of the cluster without joining any
// consumer group: a topic's partitions, a partition's log start and log end (high watermark)
// offsets, the first offset at or after a point in time, and the bytes of one record. Operator
// tools (`starstreamd offsets show|reset`) use it to compare checkpoints with the log and to
// compute new positions; the sink reads back the raw message of a record Postgres refused, so
// that its dead letter carries the bytes without every batch keeping a copy of every message.
//
// It opens a librdkafka consumer handle from the same properties KafkaSource gets (so security
// settings apply unchanged) but never subscribes, assigns or commits: it only sends Metadata and
// ListOffsets requests, and Fetch requests for record() (librdkafka's simple consumer). librdkafka's log lines go to spdlog at debug level with secrets redacted
// (SecretRedactor); its last error (redacted) is quoted in the exception when a request fails.
//
// Deadlines: every method waits at most the `timeout` given to the constructor.
// Errors: LogQueryError when the cluster does not answer in time or answers with an error for
// the request as a whole; an unknown topic is an expected answer (std::nullopt), not an error.
// Thread rules: one thread at a time.
#pragma once

#include "source/secret_properties.h"
#include "source/topic_partition.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace starstream::engine {

/// Kafka did not answer a query in time (unreachable, refusing us, no leader) or refused it.
class LogQueryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The offsets a partition's log spans: records [log_start, log_end) are readable; log_end is
/// the high watermark, the offset the next produced record gets.
struct LogRange {
    std::int64_t log_start = 0;
    std::int64_t log_end = 0;
};

class LogOffsets {
public:
    /// Offset answer of offsets_for_time for a partition without any record that late.
    static constexpr std::int64_t kNoOffset = -1;

    /// `properties` are librdkafka consumer properties (bootstrap.servers, security...);
    /// `timeout` bounds every later request. Throws SourceConfigError naming a property
    /// librdkafka rejects; LogQueryError when the handle cannot be created.
    LogOffsets(const std::map<std::string, std::string>& properties, std::chrono::milliseconds timeout);
    ~LogOffsets();
    LogOffsets(const LogOffsets&) = delete;
    LogOffsets& operator=(const LogOffsets&) = delete;

    /// The partition ids of `topic`, ascending; std::nullopt when the cluster has no such topic.
    /// Asks for every topic's metadata: asking for one topic by name may auto-create it.
    /// Throws LogQueryError.
    std::optional<std::vector<std::int32_t>> partitions(const std::string& topic);

    /// The partition's log start and log end, asked of its leader (not cached). Throws
    /// LogQueryError naming the partition.
    LogRange range(const TopicPartition& tp);

    /// For each partition, the first offset whose record timestamp (Unix milliseconds) is at or
    /// after `timestamp_ms`, or kNoOffset when no record is that late. One request for all.
    /// Throws LogQueryError naming the first partition that failed.
    std::map<TopicPartition, std::int64_t> offsets_for_time(const std::vector<TopicPartition>& partitions, std::int64_t timestamp_ms);

    /// The value of the record at `offset` in `tp`; std::nullopt when the log no longer holds it
    /// (retention, compaction) or it did not arrive within the timeout. Throws LogQueryError
    /// when the read cannot start.
    std::optional<std::string> record(const TopicPartition& tp, std::int64_t offset);

private:
    static void log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* line);
    static void error_callback(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    /// Builds the exception for a failed request: `what`, librdkafka's code, the last error seen.
    LogQueryError failure(const std::string& what, rd_kafka_resp_err_t err);
    int timeout_ms() const { return static_cast<int>(timeout_.count()); }

    SecretRedactor redactor_;
    std::chrono::milliseconds timeout_;
    std::string bootstrap_;    ///< for messages; not a secret
    std::string last_error_;   ///< redacted; set by error_callback, served by failure()
    rd_kafka_t* handle_ = nullptr;
};

}  // namespace starstream::engine
