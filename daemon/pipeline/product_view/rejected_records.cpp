#include "pipeline/product_view/rejected_records.h"

#include "sink/postgres/bisection.h"
#include "pipeline/product_view/star_batch_writer.h"

#include <algorithm>

namespace starstream::daemon::product_view {

using namespace postgres;  // this pipeline's writer is built on the Postgres sink's parts

namespace {

/// A single fact that `error` refused (tried again when a unique violation: bisection.h).
void refused(const StarBatch& batch, std::size_t fact, const PgError& error, std::vector<engine::RejectedRow>& out) {
    const FactRow& f = batch.facts[fact];
    out.push_back({fact, {batch.topics[f.topic_index], f.partition}, f.offset, error.sqlstate(), "rejected by Postgres: " + first_line(error.what()),
                   std::nullopt});
}

}  // namespace

std::vector<engine::RejectedRow> find_rejected(StarBatchWriter& writer, const StarBatch& batch, const std::function<void()>& progress,
                                               std::size_t limit) {
    std::vector<engine::RejectedRow> out;
    const std::size_t n = batch.facts.size();
    auto refuse = [&](std::size_t fact, const PgError& error) { return refused(batch, fact, error, out), out.size() <= limit; };
    if (n == 0) return out;
    try {
        writer.begin_trial(batch);
    } catch (const PgError& members_refused) {
        if (members_refused.transient()) throw;
        // The members themselves are refused: each probe writes a range of facts with only the
        // members they reference, in a transaction of its own.
        bisect([&](std::size_t b, std::size_t e) { return progress(), writer.probe(batch, b, e); }, refuse, 0, n, members_refused);
        return out;
    }
    // One trial transaction: ranges that pass stay under their savepoint and are never copied
    // again; only refused ranges are split.
    try {
        if (auto failed = writer.try_facts(batch, 0, n))
            bisect([&](std::size_t b, std::size_t e) { return progress(), writer.try_facts(batch, b, e); }, refuse, 0, n, *failed);
    } catch (const PgError&) {
        writer.end_trial();
        throw;
    }
    writer.end_trial();
    return out;
}

}  // namespace starstream::daemon::product_view
