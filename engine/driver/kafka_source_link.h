// The sink loop's view of the Kafka source: group commits after each batch go to the consumer
// (KafkaSource::commit_async, safe from the sink thread), and a rejected record's raw bytes are
// fetched with a LogOffsets reader of its own, opened at the first dead letter that needs them.
// Thread rules: the sink thread.
#pragma once

#include "driver/sink_loop.h"
#include "source/kafka_source.h"
#include "source/log_offsets.h"

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace starstream::engine {

class KafkaSourceLink final : public SourceLink {
public:
    /// `properties`: librdkafka properties for the reader (the consumer's); `timeout` bounds its calls.
    KafkaSourceLink(KafkaSource& source, std::map<std::string, std::string> properties, std::chrono::milliseconds timeout)
        : source_(source), properties_(std::move(properties)), timeout_(timeout) {}

    void commit_offsets(const std::map<TopicPartition, std::int64_t>& next_offsets) override { source_.commit_async(next_offsets); }
    /// Logs a warning and returns nullopt when the record cannot be read.
    std::optional<std::string> read_back(const TopicPartition& tp, std::int64_t offset) override;

private:
    KafkaSource& source_;
    std::map<std::string, std::string> properties_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<LogOffsets> log_;
};

}  // namespace starstream::engine
