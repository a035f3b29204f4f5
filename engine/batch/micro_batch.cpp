#include "batch/micro_batch.h"

#include <algorithm>

namespace starstream::engine {

std::uint16_t MicroBatch::topic_index(std::string_view topic) {
    for (std::size_t i = 0; i < topics.size(); ++i)
        if (topics[i] == topic) return static_cast<std::uint16_t>(i);
    topics.emplace_back(topic);
    return static_cast<std::uint16_t>(topics.size() - 1);
}

void MicroBatch::drop_partitions(const std::set<TopicPartition>& partitions) {
    if (partitions.empty()) return;
    drop_rows(partitions);
    std::erase_if(dead_letters, [&](const DeadLetter& d) { return partitions.count({topics[d.topic_index], d.partition}) > 0; });
    std::erase_if(offset_gaps, [&](const OffsetGap& g) { return partitions.count(g.partition) > 0; });
    for (const auto& tp : partitions) {
        checkpoint.drop(tp);
        records -= partition_records[tp];  // their records are not this batch's any more
        partition_records.erase(tp);
    }
}

void MicroBatch::dead_letter_rows(const std::vector<RejectedRow>& rejected) {
    if (rejected.empty()) return;
    remove_rows(rejected);
    for (const auto& r : rejected) {
        const std::string unread = r.payload ? "" : " (the raw message could not be read back from Kafka)";
        dead_letters.push_back({topic_index(r.source.topic), r.source.partition, r.offset, r.reason + unread,
                                r.payload.value_or(""), -1, r.code});
    }
}

}  // namespace starstream::engine
