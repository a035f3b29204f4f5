#include "pipeline/product_view/star_batch_writer.h"

#include "pipeline/product_view/decoder.h"
#include "sink/postgres/dimension_merge.h"
#include "sink/postgres/held_keys.h"
#include "sink/postgres/progress_store.h"
#include "pipeline/product_view/rejected_records.h"
#include "sink/postgres/window_lock.h"
#include "pipeline/product_view/window_writer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace starstream::daemon::product_view {

using namespace postgres;  // this pipeline's writer is built on the Postgres sink's parts

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Staging tables live for the session and empty themselves at each COMMIT or ROLLBACK.
constexpr const char* kCreateStaging = R"SQL(
CREATE TEMP TABLE stage_event_id (event_id uuid) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_date (date_key integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_store (store_key bigint, store_id text, domain text, domain_seen timestamptz, country_code text,
                                   first_seen timestamptz, last_seen timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_product (product_key bigint, product_id text, product_url text, product_url_seen timestamptz,
                                     first_seen timestamptz, last_seen timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_location (location_key bigint, country_code text, country_name text, region text, city text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_user_agent (user_agent_key bigint, user_agent text, browser_family text, browser_version text,
                                        os_family text, os_version text, device_family text, device_brand text,
                                        device_model text, device_type text, is_bot boolean) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_referrer (referrer_key bigint, domain text, channel text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_dim_collection (collection_key bigint, collection text, funnel_stage text) ON COMMIT DELETE ROWS;
)SQL";

struct DimensionMerge {
    std::string table;
    std::string sql;
};

DimensionMerge scd1_merge(const std::string& table, const std::vector<std::string>& columns, const std::string& natural_key,
                          const std::vector<std::string>& attributes) {
    return {table, derived_upsert(table, columns, columns, "stage_" + table, natural_key, attributes)};
}

/// The merge of a dimension whose attribute (and the columns derived from it) comes from the
/// earliest event that carries one, `<attribute>_seen` being that event's time (NULL: none
/// yet, an inferred member), and whose first_seen/last_seen widen: any batch boundaries give
/// the same row. Rows that would not change are not rewritten.
DimensionMerge earliest_attribute_merge(const std::string& table, const std::string& key, const std::string& natural_key,
                                        const std::string& attribute, const std::vector<std::string>& derived = {}) {
    const std::string& a = attribute;
    const std::string earlier = "(excluded." + a + "_seen IS NOT NULL AND (t." + a + "_seen IS NULL OR (excluded." + a + "_seen, excluded." + a +
                                ") < (t." + a + "_seen, t." + a + ")))";
    std::vector<std::string> taken = {a, a + "_seen"};
    taken.insert(taken.end(), derived.begin(), derived.end());
    std::vector<std::string> columns = {key, natural_key};
    columns.insert(columns.end(), taken.begin(), taken.end());
    columns.insert(columns.end(), {"first_seen", "last_seen"});
    std::string sql = insert_from_stage(table, columns, columns, "stage_" + table, natural_key) + "UPDATE SET\n";
    for (const auto& c : taken) sql += "    " + c + " = CASE WHEN " + earlier + " THEN excluded." + c + " ELSE t." + c + " END,\n";
    sql += "    first_seen = least(t.first_seen, excluded.first_seen),\n"
           "    last_seen = greatest(t.last_seen, excluded.last_seen)\n"
           "WHERE " + earlier + " OR excluded.first_seen < t.first_seen OR excluded.last_seen > t.last_seen\n"
           "RETURNING xmax = 0";
    return {table, sql};
}

const std::vector<DimensionMerge>& dimension_merges() {
    static const std::vector<DimensionMerge> merges = {
        {"dim_date", date_dimension_insert("stage_dim_date")},
        earliest_attribute_merge("dim_store", "store_key", "store_id", "domain", {"country_code"}),
        earliest_attribute_merge("dim_product", "product_key", "product_id", "product_url"),
        scd1_merge("dim_location", {"location_key", "country_code", "country_name", "region", "city"}, "country_code, region, city", {"country_name"}),
        scd1_merge("dim_user_agent",
                   {"user_agent_key", "user_agent", "browser_family", "browser_version", "os_family", "os_version", "device_family",
                    "device_brand", "device_model", "device_type", "is_bot"},
                   "md5(user_agent)",
                   {"browser_family", "browser_version", "os_family", "os_version", "device_family", "device_brand", "device_model",
                    "device_type", "is_bot"}),
        scd1_merge("dim_referrer", {"referrer_key", "domain", "channel"}, "domain, channel", {}),
        scd1_merge("dim_collection", {"collection_key", "collection", "funnel_stage"}, "collection", {"funnel_stage"}),
    };
    return merges;
}

std::size_t staged_members(const StarBatch& batch, std::string_view table) {
    if (table == "dim_date") return batch.date_keys.size();
    if (table == "dim_store") return batch.stores.size();
    if (table == "dim_product") return batch.products.size();
    if (table == "dim_location") return batch.locations.size();
    if (table == "dim_user_agent") return batch.user_agents.size();
    if (table == "dim_referrer") return batch.referrers.size();
    return batch.collections.size();
}

}  // namespace

StarBatchWriter::StarBatchWriter(const PgSettings& settings, const WindowSettings& windows, std::string instance_id,
                                 const std::atomic<bool>* abort_flag)
    : conn_(std::make_unique<PgConnection>(settings, abort_flag)) {
    conn_->exec("SET synchronous_commit = on; SET TIME ZONE 'UTC';");
    conn_->exec(kCreateStaging);
    ledger_ = std::make_unique<BatchLedger>(*conn_, copy_, std::move(instance_id));
    if (windows.enabled) {
        windows_ = std::make_unique<ClickstreamWindows>(windows);
        window_writer_ = std::make_unique<WindowWriter>(*conn_, copy_, windows);
    }
}

StarBatchWriter::~StarBatchWriter() = default;

void StarBatchWriter::stage(const StarBatch& batch, const MemberKeys* only) {
    auto copy = [&](const char* table) { conn_->copy_in(std::string("COPY ") + table + " FROM STDIN (FORMAT binary)", copy_.finish()); };
    // One key set serves every dimension: a key of another dimension that happens to be equal
    // only stages one member more in a probe, which is harmless.
    auto wanted = [&](std::int64_t key) { return !only || only->members.count(key); };

    copy_.reset();
    for (std::int32_t key : batch.date_keys)
        if (!only || only->dates.count(key)) copy_.begin_row(1), copy_.int4(key);
    copy("stage_dim_date");

    auto optional_text = [&](const std::string& v) { v.empty() ? copy_.null() : copy_.text(v); };
    auto earliest = [&](const EarliestValue& v) {
        v.known() ? (copy_.text(v.value), copy_.timestamptz_us(v.seen)) : (copy_.null(), copy_.null());
    };

    copy_.reset();
    for (const auto& [key, m] : batch.stores) {
        if (!wanted(key)) continue;
        copy_.begin_row(7), copy_.int8(key), copy_.text(m.store_id), earliest(m.domain), optional_text(m.country_code);
        copy_.timestamptz_us(m.seen.first), copy_.timestamptz_us(m.seen.last);
    }
    copy("stage_dim_store");

    copy_.reset();
    for (const auto& [key, m] : batch.products) {
        if (!wanted(key)) continue;
        copy_.begin_row(6), copy_.int8(key), copy_.text(m.product_id), earliest(m.url);
        copy_.timestamptz_us(m.seen.first), copy_.timestamptz_us(m.seen.last);
    }
    copy("stage_dim_product");

    copy_.reset();
    for (const auto& [key, m] : batch.locations)
        if (wanted(key))
            copy_.begin_row(5), copy_.int8(key), copy_.text(m.country_code), copy_.text(m.country_name), copy_.text(m.region), copy_.text(m.city);
    copy("stage_dim_location");

    copy_.reset();
    for (const auto& [key, m] : batch.user_agents) {
        if (!wanted(key)) continue;
        const auto& p = m.parsed;
        copy_.begin_row(11), copy_.int8(key), copy_.text(m.user_agent);
        copy_.text(p.browser_family), optional_text(p.browser_version()), copy_.text(p.os_family), optional_text(p.os_version());
        copy_.text(p.device_family), optional_text(p.device_brand), optional_text(p.device_model), copy_.text(p.device_type);
        copy_.boolean(p.is_bot);
    }
    copy("stage_dim_user_agent");

    copy_.reset();
    for (const auto& [key, m] : batch.referrers)
        if (wanted(key)) copy_.begin_row(3), copy_.int8(key), copy_.text(m.domain), copy_.text(m.channel);
    copy("stage_dim_referrer");

    copy_.reset();
    for (const auto& [key, m] : batch.collections)
        if (wanted(key)) copy_.begin_row(3), copy_.int8(key), copy_.text(m.collection), optional_text(m.funnel_stage);
    copy("stage_dim_collection");

    copy_.reset();
    const std::size_t begin = only ? only->begin : 0, end = only ? only->end : batch.facts.size();
    for (std::size_t i = begin; i < end; ++i) copy_.begin_row(1), copy_.uuid(batch.facts[i].event_id);
    copy("stage_event_id");
}

StarBatchWriter::EventIdSet StarBatchWriter::committed_ids() {
    // Ids of this batch that earlier batches already committed (duplicates sent again).
    static const std::string sql =
        "SELECT s.event_id::text FROM stage_event_id s CROSS JOIN " + held_key_probe("fact_event", {{"event_id", "s.event_id"}}, "hit");
    PgResult rows = conn_->exec(sql);
    EventIdSet ids;
    for (int i = 0; i < PQntuples(rows.get()); ++i) {
        EventId id;
        if (parse_uuid(PQgetvalue(rows.get(), i, 0), id)) ids.insert(id);
    }
    return ids;
}

std::int64_t StarBatchWriter::copy_facts(const StarBatch& batch, const EventIdSet& skip, std::size_t begin, std::size_t end) {
    copy_.reset();
    auto optional_text = [&](TextRef ref) { ref.empty() ? copy_.null() : copy_.text(batch.view(ref)); };
    for (std::size_t i = begin; i < end; ++i) {
        const auto& f = batch.facts[i];
        if (!skip.empty() && skip.count(f.event_id)) continue;
        copy_.begin_row(19);
        copy_.uuid(f.event_id);
        copy_.timestamptz_us(f.event_time_us);
        copy_.int4(f.date_key);
        copy_.int2(f.hour);
        copy_.int8(f.store_key);
        f.has_product ? copy_.int8(f.product_key) : copy_.null();
        copy_.int8(f.location_key);
        copy_.int8(f.user_agent_key);
        copy_.int8(f.referrer_key);
        copy_.int8(f.collection_key);
        copy_.text(batch.view(f.device_id));
        optional_text(f.customer_id);
        f.ip_family ? copy_.inet(f.ip_family, f.ip.data()) : copy_.null();
        optional_text(f.resolution);
        optional_text(f.current_url);
        f.options_json.empty() ? copy_.null() : copy_.jsonb(batch.view(f.options_json));
        copy_.text(batch.topics[f.topic_index]);
        copy_.int4(f.partition);
        copy_.int8(f.offset);
    }
    // Columns named: a column an operator adds to fact_event (nullable) does not break the COPY.
    return conn_->copy_in(
        "COPY fact_event (event_id, event_time, date_key, hour, store_key, product_key, location_key, user_agent_key, referrer_key,"
        " collection_key, device_id, customer_id, ip, resolution, current_url, options, kafka_topic, kafka_partition, kafka_offset)"
        " FROM STDIN (FORMAT binary)",
        copy_.finish());
}

void StarBatchWriter::merge_dimensions(const StarBatch& batch, BatchOutcome& outcome) {
    for (const auto& merge : dimension_merges()) {
        TableRows counts = upserted_rows(merge.table, run_member_merge(*conn_, merge.sql));
        counts.unchanged = static_cast<std::int64_t>(staged_members(batch, merge.table)) - counts.inserted - counts.updated;
        outcome.tables.push_back(counts);
    }
}


void StarBatchWriter::merge_windows(const StarBatch& batch, const EventIdSet& committed, BatchOutcome& outcome) {
    // After the facts: whatever waits for the lock has its own facts written already, and the
    // watermark is read where no other instance's merge can move it under this batch.
    outcome.window_watermark_us = window_writer_->lock_and_read_watermark();
    const auto tw = Clock::now();
    auto produced = windows_->apply(batch, committed, outcome.window_watermark_us);
    outcome.window_apply_seconds = seconds_since(tw);
    const auto tww = Clock::now();
    for (auto& rows : window_writer_->write(batch, produced)) outcome.tables.push_back(std::move(rows));
    outcome.window_write_seconds = seconds_since(tww);
    for (int t = 0; t < kWindowedTables; ++t) {
        const auto& late = produced.tables[static_cast<std::size_t>(t)].late_counts();
        outcome.late[t] = {late.dropped, late.dead_lettered, late.corrected};
    }
}

void StarBatchWriter::rollback() {
    if (!conn_->ok()) return;
    try {
        conn_->exec("ROLLBACK");
    } catch (...) {
    }
}

engine::CommitReport StarBatchWriter::write(const engine::MicroBatch& batch) {
    const auto& star = static_cast<const StarBatch&>(batch);
    return commit_report(star, write_star(star));
}

std::vector<engine::RejectedRow> StarBatchWriter::find_rejected(const engine::MicroBatch& batch, const std::function<void()>& progress,
                                                                std::size_t limit) {
    return product_view::find_rejected(*this, static_cast<const StarBatch&>(batch), progress, limit);
}

BatchTotals StarBatchWriter::totals(const StarBatch& batch, const BatchOutcome& outcome) const {
    BatchTotals t{outcome.facts_inserted, outcome.duplicates, outcome.dead_letters, batch.min_event_time_us, batch.max_event_time_us,
                  outcome.window_watermark_us, {}};
    for (const auto& table : outcome.late)
        for (std::size_t policy = 0; policy < t.late.size(); ++policy) t.late[policy] += table[policy];
    return t;
}

engine::CommitReport commit_report(const StarBatch& batch, const BatchOutcome& outcome) {
    engine::CommitReport report;
    report.tables = outcome.tables;
    for (int t = 0; t < kWindowedTables; ++t)
        report.late.push_back({windowed_table_name(WindowedTable(t)), outcome.late[t]});
    report.rows_inserted = outcome.facts_inserted;
    report.duplicates = outcome.duplicates;
    report.dead_letters = outcome.dead_letters;
    report.stage_seconds = outcome.stage_seconds;
    report.merge_seconds = outcome.merge_seconds;
    report.commit_seconds = outcome.commit_seconds;
    report.window_apply_seconds = outcome.window_apply_seconds;
    report.window_write_seconds = outcome.window_write_seconds;
    report.event_times_us.reserve(batch.facts.size());
    for (const auto& f : batch.facts) report.event_times_us.push_back(f.event_time_us);
    return report;
}

BatchOutcome StarBatchWriter::write_star(const StarBatch& batch) {
    BatchOutcome outcome;
    conn_->exec(kBeginReadCommitted);
    try {
        auto t0 = Clock::now();
        stage(batch, nullptr);
        outcome.stage_seconds = seconds_since(t0);

        auto t1 = Clock::now();
        merge_dimensions(batch, outcome);
        // Facts go straight into fact_event by COPY, minus the ids already committed: cheaper
        // than staging them and INSERT ... ON CONFLICT (bench/results.md). A concurrent writer
        // of the same id makes the COPY fail with a unique violation; the retry then skips it.
        const EventIdSet committed = committed_ids();
        outcome.facts_inserted = copy_facts(batch, committed, 0, batch.facts.size());
        // Every record is a fact, a dead letter or a duplicate of an id seen before.
        outcome.duplicates = static_cast<std::int64_t>(batch.records - batch.dead_letters.size()) - outcome.facts_inserted;
        outcome.tables.push_back({"fact_event", outcome.facts_inserted, 0, outcome.duplicates});
        outcome.tables.push_back(ledger_->copy_dead_letters(batch));
        outcome.dead_letters = outcome.tables.back().inserted;
        if (windows_) merge_windows(batch, committed, outcome);
        ledger_->update_progress(batch);
        ledger_->record_offset_gaps(batch);
        ledger_->insert_batch_row(batch, totals(batch, outcome));
        outcome.merge_seconds = seconds_since(t1);

        auto t2 = Clock::now();
        conn_->exec("COMMIT");
        outcome.commit_seconds = seconds_since(t2);
    } catch (...) {
        rollback();
        throw;
    }
    return outcome;
}

void StarBatchWriter::begin_trial(const StarBatch& batch) {
    BatchOutcome ignored;
    conn_->exec(kBeginReadCommitted);
    try {
        stage(batch, nullptr);
        merge_dimensions(batch, ignored);
        trial_committed_ = committed_ids();
    } catch (const PgError&) {
        end_trial();
        throw;
    }
}

std::optional<PgError> StarBatchWriter::try_facts(const StarBatch& batch, std::size_t begin, std::size_t end) {
    conn_->exec("SAVEPOINT trial_facts");
    try {
        copy_facts(batch, trial_committed_, begin, end);
        conn_->exec("RELEASE SAVEPOINT trial_facts");
        return std::nullopt;
    } catch (const PgError& e) {
        if (e.transient()) throw;
        conn_->exec("ROLLBACK TO SAVEPOINT trial_facts");
        return e;
    }
}

void StarBatchWriter::end_trial() {
    trial_committed_.clear();
    if (!conn_->ok()) return;
    conn_->exec("ROLLBACK");
}

std::optional<PgError> StarBatchWriter::probe(const StarBatch& batch, std::size_t begin, std::size_t end) {
    const MemberKeys keys = MemberKeys::of(batch, begin, end);
    BatchOutcome ignored;
    try {
        conn_->exec(kBeginReadCommitted);
        stage(batch, &keys);
        merge_dimensions(batch, ignored);
        copy_facts(batch, committed_ids(), begin, end);
        conn_->exec("ROLLBACK");
        return std::nullopt;
    } catch (const PgError& e) {
        if (conn_->ok()) conn_->exec("ROLLBACK");
        if (e.transient()) throw;
        return e;
    }
}

}  // namespace starstream::daemon::product_view
