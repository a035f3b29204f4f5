#include "pipeline/product_view/star_batch.h"

#include <algorithm>

namespace starstream::daemon::product_view {

void drop_partitions(StarBatch& batch, const std::set<engine::TopicPartition>& partitions) {
    auto fenced = [&](std::uint16_t topic_index, std::int32_t partition) {
        return partitions.count({batch.topics[topic_index], partition}) > 0;
    };
    std::erase_if(batch.facts, [&](const auto& f) { return fenced(f.topic_index, f.partition); });
    std::erase_if(batch.dead_letters, [&](const auto& d) { return fenced(d.topic_index, d.partition); });
    std::erase_if(batch.offset_gaps, [&](const auto& g) { return partitions.count(g.partition) > 0; });
    for (const auto& tp : partitions) {
        batch.checkpoint.drop(tp);
        batch.records -= batch.partition_records[tp];  // their records are not this batch's any more
        batch.partition_records.erase(tp);
    }
}

}  // namespace starstream::daemon::product_view
