#include "sink/postgres/rejected_records.h"

#include "sink/postgres/star_batch_writer.h"

#include <algorithm>

namespace starstream::daemon::postgres {

namespace {

using product_view::StarBatch;

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

void bisect(StarBatchWriter& writer, const StarBatch& batch, std::size_t begin, std::size_t end, const PgError& error,
            std::vector<Rejection>& out) {
    if (end - begin == 1) {
        out.push_back({begin, error.sqlstate(), first_line(error.what()), std::nullopt});
        return;
    }
    const std::size_t mid = begin + (end - begin) / 2;
    for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}})
        if (auto failed = writer.probe(batch, b, e)) bisect(writer, batch, b, e, *failed, out);
}

/// Erases the members of `keys` from a dimension map.
template <typename Map>
void erase_keys(Map& members, const std::unordered_set<std::int64_t>& keys) {
    for (std::int64_t key : keys) members.erase(key);
}

}  // namespace

bool caused_by_records(const PgError& error) {
    const std::string& s = error.sqlstate();
    // 54: program limit exceeded, e.g. a key too long for its index ("index row requires ...").
    return !error.transient() && (s.rfind("22", 0) == 0 || s.rfind("23", 0) == 0 || s.rfind("54", 0) == 0);
}

std::vector<Rejection> find_rejected(StarBatchWriter& writer, const StarBatch& batch) {
    std::vector<Rejection> out;
    if (batch.facts.empty()) return out;
    if (auto failed = writer.probe(batch, 0, batch.facts.size())) bisect(writer, batch, 0, batch.facts.size(), *failed, out);
    return out;
}

void dead_letter_rejected(StarBatch& batch, const std::vector<Rejection>& rejected) {
    std::vector<bool> is_rejected(batch.facts.size(), false);
    MemberKeys gone;  // members the rejected facts reference
    for (const auto& r : rejected) {
        const auto& f = batch.facts[r.fact];
        is_rejected[r.fact] = true;
        gone.add(f);
        const std::string unread = r.payload ? "" : " (the raw message could not be read back from Kafka)";
        batch.dead_letters.push_back({f.topic_index, f.partition, f.offset, "rejected by Postgres: " + r.message + unread,
                                      r.payload.value_or(""), -1, r.sqlstate});
    }
    std::size_t index = 0;
    std::erase_if(batch.facts, [&](const auto&) { return is_rejected[index++]; });
    // Members referenced only by rejected facts would be rejected again (or be orphans).
    const MemberKeys kept = MemberKeys::of(batch, 0, batch.facts.size());
    std::erase_if(gone.members, [&](std::int64_t key) { return kept.members.count(key) > 0; });
    std::erase_if(gone.dates, [&](std::int32_t key) { return kept.dates.count(key) > 0; });
    erase_keys(batch.stores, gone.members);
    erase_keys(batch.products, gone.members);
    erase_keys(batch.locations, gone.members);
    erase_keys(batch.user_agents, gone.members);
    erase_keys(batch.referrers, gone.members);
    erase_keys(batch.collections, gone.members);
    for (std::int32_t date : gone.dates) batch.date_keys.erase(date);
}

}  // namespace starstream::daemon::postgres
