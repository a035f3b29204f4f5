#include "spec/spec_batch.h"

#include <algorithm>

namespace starstream::daemon::spec {

void SpecBatch::drop_rows(const std::set<engine::TopicPartition>& partitions) {
    if (std::erase_if(rows, [&](const SpecRow& r) { return partitions.count({topics[r.topic_index], r.partition}) > 0; }) > 0)
        window_folds.clear(), session_folds.clear();  // their row numbers are gone: the sink folds what is left
}

void SpecBatch::remove_rows(const std::vector<engine::RejectedRow>& rejected) {
    std::vector<bool> gone(rows.size(), false);
    for (const auto& r : rejected) gone[r.row] = true;
    std::size_t i = 0;
    if (std::erase_if(rows, [&](const SpecRow&) { return gone[i++]; }) > 0) window_folds.clear(), session_folds.clear();
}

}  // namespace starstream::daemon::spec
