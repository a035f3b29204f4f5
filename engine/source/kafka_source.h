// The Kafka source: a librdkafka consumer that speaks in intents (subscribe, poll, hold for
// alignment, commit_async, close) and takes its positions from a checkpoint store, never from
// Kafka's auto-commit. Records come from one queue per partition (PartitionQueues): holding a
// partition back, or taking no record at all while the sink is behind, never pauses it, so
// nothing librdkafka prefetched is dropped; its queue limits, per partition, bound memory.
//
// Settings the engine owns are forced after the user's (ClickHouse's Kafka engine does the
// same): no auto commit, no auto offset store, partition EOF events on, an eager assignor.
// librdkafka's log lines go through spdlog with secrets redacted (SecretRedactor). Its errors
// arrive through an error callback: a refused SASL authentication or TLS handshake is a
// *security failure*, reported once per episode (broker, protocol, mechanism, user; never the
// secret) and kept until a metadata answer, record or partition end proves the connection works;
// librdkafka keeps reconnecting with its backoff (reconnect.backoff.ms .. reconnect.backoff.max.ms).
// Thread rules: every method runs on the one poll thread, except commit_async, which
// librdkafka allows from any thread. Rebalance and error callbacks run inside poll() and
// serve_events() on that thread; the log callback runs on librdkafka's threads.
#pragma once

#include "source/partition_queues.h"
#include "source/secret_properties.h"
#include "source/topic_partition.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::engine {

/// A configuration problem with one librdkafka property; `key()` names it.
class SourceConfigError : public std::runtime_error {
public:
    SourceConfigError(std::string key, const std::string& message)
        : std::runtime_error(message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

/// Sets one librdkafka property on `conf`. When librdkafka refuses it, destroys `conf` and
/// throws SourceConfigError naming `key`, with librdkafka's reason redacted by `redactor`.
void set_property(rd_kafka_conf_t* conf, const SecretRedactor& redactor, const std::string& key, const std::string& value);

/// Told about assignment changes; implemented by whoever owns the checkpoint.
class RebalanceListener {
public:
    virtual ~RebalanceListener() = default;
    /// Partitions were assigned: return their checkpointed positions (after claiming them).
    /// Throwing leaves them unassigned and stops the source (see KafkaSource::poll).
    virtual std::map<TopicPartition, PartitionPosition> on_assigned(const std::vector<TopicPartition>& partitions) = 0;
    /// Partitions are about to be taken away: flush and commit their pending work first.
    virtual void on_revoked(const std::vector<TopicPartition>& partitions) = 0;
};

/// One consumed message; owns the librdkafka message until destroyed.
class SourceRecord {
public:
    explicit SourceRecord(rd_kafka_message_t* m) : message_(m, &rd_kafka_message_destroy) {}
    std::string_view topic() const { return rd_kafka_topic_name(message_->rkt); }
    std::int32_t partition() const { return message_->partition; }
    std::int64_t offset() const { return message_->offset; }
    std::string_view payload() const { return {static_cast<const char*>(message_->payload), message_->len}; }
    /// The broker's or producer's timestamp, Unix milliseconds; -1 when unknown.
    std::int64_t timestamp_ms() const { return rd_kafka_message_timestamp(message_.get(), nullptr); }

private:
    std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> message_;
};

/// A partition whose position is outside its log (auto.offset.reset=error, owned by the
/// engine): fetching it stopped until reassign() gives it a position.
struct OffsetOutOfRange {
    TopicPartition partition;
    std::int64_t offset = -1;  ///< the position the broker refused
};

/// What one poll produced: a record, the end of a partition (caught up), a position outside
/// the log, or nothing.
struct PollResult {
    std::optional<SourceRecord> record;
    std::optional<TopicPartition> end_of_partition;
    std::int64_t end_offset = -1;  ///< with end_of_partition: the offset it was reached at (next to read); -1 unknown
    std::optional<OffsetOutOfRange> out_of_range;
};

enum class StartingOffsets { earliest, latest };

class KafkaSource {
public:
    /// `properties` are librdkafka consumer properties (bootstrap.servers, group.id, security...).
    /// Throws SourceConfigError naming the property that librdkafka rejects or the engine owns.
    KafkaSource(const std::map<std::string, std::string>& properties, std::vector<std::string> topics,
                StartingOffsets starting, RebalanceListener& listener);
    ~KafkaSource();
    KafkaSource(const KafkaSource&) = delete;
    KafkaSource& operator=(const KafkaSource&) = delete;

    /// Asks the cluster for the topics' metadata within `timeout`: false when no broker
    /// answered in time (unreachable, or refusing us: see security_failure()). Throws
    /// std::runtime_error naming the topics the cluster does not have.
    bool check_reachable(std::chrono::milliseconds timeout);
    /// Every partition of the subscribed topics, as the last successful check_reachable() found
    /// them (empty before).
    const std::vector<TopicPartition>& topic_partitions() const { return topic_partitions_; }
    /// Joins the consumer group for the topics. Throws std::runtime_error on failure.
    void subscribe();
    /// Waits up to `timeout` for a message or event: a record, partition end or position outside
    /// the log of a partition not held for alignment, or (serving rebalances and errors) nothing.
    /// With `take_records` false it only serves events and returns nothing: the backpressure of
    /// a sink that is behind (the partitions' queues fill up, then librdkafka stops fetching).
    /// Throws std::runtime_error on a fatal consumer error or when the rebalance listener
    /// failed; transient errors are logged.
    PollResult poll(std::chrono::milliseconds timeout, bool take_records = true);
    /// Replaces the assignment by exactly `next_offsets`' partitions, each fetched from its
    /// offset (kFromLogStart: the log start; -1: source.starting_offsets): repositions after an out-of-range position or an
    /// operator's reset, and stops fetching a partition another instance owns until the next
    /// rebalance. Throws std::runtime_error when librdkafka refuses.
    void reassign(const std::map<TopicPartition, std::int64_t>& next_offsets);
    /// Asks the partition's leader for its log start and end (high watermark) offsets, waiting
    /// at most `timeout`; {-1, -1} when it does not answer in time.
    std::pair<std::int64_t, std::int64_t> query_log_bounds(const TopicPartition& tp, std::chrono::milliseconds timeout);
    /// Holds back exactly `partitions` among the assigned ones for watermark alignment: poll()
    /// takes no record from them until they are released; what librdkafka prefetched for them
    /// stays in their queues (which stop being fetched once full). Unassigned partitions are
    /// ignored. An assignment, a revocation or reassign() ends every hold: the caller decides
    /// anew. Poll thread. Never throws.
    void hold_for_alignment(const std::set<TopicPartition>& partitions);
    /// The partitions held for watermark alignment now (all assigned).
    const std::set<TopicPartition>& held_for_alignment() const { return aligned_; }
    /// Commits `next_offsets` to the consumer group without waiting, so standard lag tools
    /// see progress. Any thread. Failures are logged, never thrown: Postgres holds the truth.
    void commit_async(const std::map<TopicPartition, std::int64_t>& next_offsets);
    /// The partition's low and high watermark offsets as last seen in fetch responses
    /// (cached, does not block); {-1, -1} when unknown.
    std::pair<std::int64_t, std::int64_t> watermarks(const TopicPartition& tp) const;
    /// Serves librdkafka's queued events (errors, rebalances) for up to `timeout` without
    /// consuming: waits before subscribe() use it so that security failures are noticed.
    void serve_events(std::chrono::milliseconds timeout);
    /// The refused SASL authentication or TLS handshake that currently keeps the consumer from
    /// the cluster (broker, protocol, mechanism, librdkafka's reason; secrets redacted), or ""
    /// when none is known.
    const std::string& security_failure() const { return security_failure_; }
    /// While a security failure lasts, asks a broker for metadata (waiting at most `timeout`):
    /// an answer ends the failure. For quiet topics, where no record or partition end would.
    void recheck_connection(std::chrono::milliseconds timeout);
    /// Consumer errors seen so far (logged as they happen), for metrics.
    std::uint64_t errors() const { return errors_; }
    /// Refused SASL authentications and TLS handshakes seen so far (each attempt), for metrics.
    std::uint64_t security_failures() const { return security_failures_; }
    /// Leaves the group (revoking partitions through the listener) and stops fetching.
    void close();

private:
    static void rebalance_callback(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list, void* opaque);
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list);
    static void error_callback(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    static void log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* line);
    void on_error(rd_kafka_resp_err_t err, const std::string& reason);
    /// What one librdkafka message means (takes ownership of `m`).
    PollResult take(rd_kafka_message_t* m);
    /// Throws the consumer's fatal error or the rebalance listener's failure, if any.
    void throw_if_failed() const;
    /// The connection demonstrably works: ends a security failure episode.
    void connection_works();

    rd_kafka_t* consumer_ = nullptr;
    SecretRedactor redactor_;
    std::string security_settings_;  ///< "security.protocol X, sasl.mechanisms Y, sasl.username Z" for reports
    std::string security_failure_;
    std::string fatal_error_;
    std::uint64_t security_failures_ = 0;
    std::vector<std::string> topics_;
    StartingOffsets starting_;
    RebalanceListener& listener_;
    std::vector<TopicPartition> assigned_;
    std::set<TopicPartition> aligned_;  ///< held for watermark alignment (no record taken while held)
    std::vector<TopicPartition> topic_partitions_;  ///< of the subscribed topics, from metadata
    std::string listener_failure_;
    std::unique_ptr<PartitionQueues> queues_;  ///< the assigned partitions' queues
    int records_since_events_ = 0;             ///< poll() calls since the consumer queue was last served
    bool closed_ = false;
    std::uint64_t errors_ = 0;
};

}  // namespace starstream::engine
