#include "driver/kafka_source_link.h"

#include <spdlog/spdlog.h>

namespace starstream::engine {

std::optional<std::string> KafkaSourceLink::read_back(const TopicPartition& tp, std::int64_t offset) {
    try {
        if (!log_) log_ = std::make_unique<LogOffsets>(properties_, timeout_);
        return log_->record(tp, offset);
    } catch (const std::exception& e) {
        spdlog::warn("cannot read {} at offset {} back from Kafka for its dead letter: {}", tp.to_string(), offset, e.what());
        return std::nullopt;
    }
}

}  // namespace starstream::engine
