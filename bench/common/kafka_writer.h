// KafkaWriter: the bench tools' producer (starstream-generate, starstream-load). One topic,
// lz4 compression, idempotent (retries never duplicate or reorder a partition's messages),
// large batches; the user's `--kafka-property KEY=VALUE` pairs are applied last, so SASL/TLS
// settings and tuning pass through unchanged.
//
// Delivery reports are served by the thread that calls write() or flush() (librdkafka runs
// the callback inside rd_kafka_poll/rd_kafka_flush), so the counters need no locking.
// Thread rules: one thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::bench {

class KafkaWriter {
public:
    /// Throws std::invalid_argument naming the property librdkafka refused (or a property
    /// without '='), std::runtime_error when the producer cannot be created.
    KafkaWriter(const std::string& brokers, std::string topic, const std::vector<std::string>& properties);
    ~KafkaWriter();
    KafkaWriter(const KafkaWriter&) = delete;
    KafkaWriter& operator=(const KafkaWriter&) = delete;

    /// The topic's partition count from broker metadata, waiting up to `timeout_ms`.
    std::int32_t partition_count(int timeout_ms);

    /// Keyed by `key` (the partitioner hashes it) when `partition` is empty, else unkeyed to
    /// that partition. Blocks while librdkafka's queue is full. Throws std::runtime_error on a
    /// produce error or once any earlier message's delivery has failed.
    void write(std::string_view key, std::string_view value, std::optional<std::int32_t> partition);

    /// Without a key (a null key, not an empty one): librdkafka's partitioner picks the
    /// partition (sticky: batches fill one partition, then move on). Errors as write().
    void write_unkeyed(std::string_view value);

    /// Waits up to `timeout_ms` for every message to be acknowledged; throws on failure.
    void flush(int timeout_ms);

    /// Messages the brokers acknowledged so far.
    std::uint64_t delivered() const { return delivered_; }
    /// Messages whose delivery failed for good (after librdkafka's own retries).
    std::uint64_t failed() const { return failed_count_; }

private:
    void produce(const void* key, std::size_t key_size, std::string_view value, std::int32_t partition);
    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);

    rd_kafka_t* rk_ = nullptr;
    std::string topic_;
    std::string failed_;  ///< the first delivery error, empty while none
    std::uint64_t delivered_ = 0;
    std::uint64_t failed_count_ = 0;
};

}  // namespace starstream::bench
