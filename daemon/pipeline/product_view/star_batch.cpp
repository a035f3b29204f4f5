#include "pipeline/product_view/star_batch.h"

#include <algorithm>

namespace starstream::daemon::product_view {

namespace {

/// Erases the members of `keys` from a dimension map.
template <typename Map>
void erase_keys(Map& members, const std::unordered_set<std::int64_t>& keys) {
    for (std::int64_t key : keys) members.erase(key);
}

}  // namespace

void MemberKeys::add(const FactRow& f) {
    dates.insert(f.date_key);
    members.insert({f.store_key, f.location_key, f.user_agent_key, f.referrer_key, f.collection_key});
    if (f.has_product) members.insert(f.product_key);
}

MemberKeys MemberKeys::of(const StarBatch& batch, std::size_t begin, std::size_t end) {
    MemberKeys keys;
    keys.begin = begin, keys.end = end;
    for (std::size_t i = begin; i < end; ++i) keys.add(batch.facts[i]);
    return keys;
}

void StarBatch::drop_rows(const std::set<TopicPartition>& partitions) {
    std::erase_if(facts, [&](const FactRow& f) { return partitions.count({topics[f.topic_index], f.partition}) > 0; });
}

void StarBatch::remove_rows(const std::vector<engine::RejectedRow>& rejected) {
    std::vector<bool> is_rejected(facts.size(), false);
    MemberKeys gone;  // members the rejected facts reference
    for (const auto& r : rejected) {
        is_rejected[r.row] = true;
        gone.add(facts[r.row]);
    }
    std::size_t index = 0;
    std::erase_if(facts, [&](const auto&) { return is_rejected[index++]; });
    const MemberKeys kept = MemberKeys::of(*this, 0, facts.size());
    std::erase_if(gone.members, [&](std::int64_t key) { return kept.members.count(key) > 0; });
    std::erase_if(gone.dates, [&](std::int32_t key) { return kept.dates.count(key) > 0; });
    erase_keys(stores, gone.members);
    erase_keys(products, gone.members);
    erase_keys(locations, gone.members);
    erase_keys(user_agents, gone.members);
    erase_keys(referrers, gone.members);
    erase_keys(collections, gone.members);
    for (std::int32_t date : gone.dates) date_keys.erase(date);
}

}  // namespace starstream::daemon::product_view
