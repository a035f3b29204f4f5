#include "spec/spec_batch.h"

#include <algorithm>

namespace starstream::daemon::spec {

void SpecBatch::drop_rows(const std::set<engine::TopicPartition>& partitions) {
    std::erase_if(rows, [&](const SpecRow& r) { return partitions.count({topics[r.topic_index], r.partition}) > 0; });
    window_folds.clear();  // their row numbers are gone
}

void SpecBatch::remove_rows(const std::vector<engine::RejectedRow>& rejected) {
    std::vector<bool> gone(rows.size(), false);
    for (const auto& r : rejected) gone[r.row] = true;
    std::size_t i = 0;
    std::erase_if(rows, [&](const SpecRow&) { return gone[i++]; });
    window_folds.clear();
}

}  // namespace starstream::daemon::spec
