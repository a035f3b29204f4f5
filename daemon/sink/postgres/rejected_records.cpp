#include "sink/postgres/rejected_records.h"

#include "sink/postgres/star_batch_writer.h"

#include <algorithm>

namespace starstream::daemon::postgres {

namespace {

using product_view::StarBatch;

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

/// A single fact that `error` refused. A unique violation on the fact's own key means another
/// instance committed that event id meanwhile: a duplicate, which the retry skips, not a dead letter.
void refused(std::size_t fact, const PgError& error, std::vector<Rejection>& out) {
    if (error.sqlstate() != "23505") out.push_back({fact, error.sqlstate(), first_line(error.what()), std::nullopt});
}

/// `try_range(b, e)` writes facts [b, e) and returns the error that refused them, if any.
template <typename TryRange>
void bisect(TryRange&& try_range, std::size_t begin, std::size_t end, const PgError& error, std::vector<Rejection>& out) {
    if (!caused_by_records(error)) return;  // a schema or permission error is no record's fault
    if (end - begin == 1) return refused(begin, error, out);
    const std::size_t mid = begin + (end - begin) / 2;
    for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}})
        if (auto failed = try_range(b, e)) bisect(try_range, b, e, *failed, out);
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
    const std::size_t n = batch.facts.size();
    if (n == 0) return out;
    try {
        writer.begin_trial(batch);
    } catch (const PgError& members_refused) {
        if (members_refused.transient()) throw;
        // The members themselves are refused: each probe writes a range of facts with only the
        // members they reference, in a transaction of its own.
        bisect([&](std::size_t b, std::size_t e) { return writer.probe(batch, b, e); }, 0, n, members_refused, out);
        return out;
    }
    // One trial transaction: ranges that pass stay under their savepoint and are never copied
    // again; only refused ranges are split.
    try {
        if (auto failed = writer.try_facts(batch, 0, n))
            bisect([&](std::size_t b, std::size_t e) { return writer.try_facts(batch, b, e); }, 0, n, *failed, out);
    } catch (const PgError&) {
        writer.end_trial();
        throw;
    }
    writer.end_trial();
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
