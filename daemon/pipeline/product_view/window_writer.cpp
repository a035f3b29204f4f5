#include "pipeline/product_view/window_writer.h"

#include "sink/postgres/progress_store.h"
#include "pipeline/product_view/star_batch_writer.h"
#include "sink/postgres/window_lock.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <unordered_map>

namespace starstream::daemon::product_view {

using namespace postgres;  // this pipeline's writer is built on the Postgres sink's parts

namespace {


constexpr std::int64_t kHourUs = 3600'000'000;
const std::string kCheckoutSuccess = "checkout_success";  ///< the visits' distinct value for a reached checkout

// The staging tables have the columns this writer fills, not LIKE its tables': a column an
// operator adds to a windowed table (nullable, or with a default) is left to the table, whose
// INSERTs below name their columns.
constexpr const char* kCreateStaging = R"SQL(
CREATE TEMP TABLE stage_win_hourly_product_views (window_start timestamptz, window_end timestamptz, product_key bigint, store_key bigint,
                                                  location_key bigint, views bigint, visitors bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_win_hourly_product_visitor (window_start timestamptz, product_key bigint, store_key bigint, location_key bigint,
                                                    member text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_win_product_view_panes (window_start timestamptz, window_end timestamptz, product_key bigint, views bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_late_event (operator text, kafka_topic text, kafka_partition integer, kafka_offset bigint, event_time timestamptz,
                                    lateness_ms bigint, window_start timestamptz, window_end timestamptz, watermark timestamptz,
                                    batch_id bigint) ON COMMIT DELETE ROWS;
)SQL";

// Additive: the cell's visitors grow by the devices the side table did not have yet. The
// members are probed, not inserted with ON CONFLICT DO NOTHING: every writer of the side table
// holds the window merge lock, so no concurrent insert can race the probe, and a plain insert
// skips the speculative insertion's lock and WAL record per row (bench/results.md, issue 13).
constexpr const char* kMergeHourly = R"SQL(
WITH fresh AS (
    INSERT INTO win_hourly_product_views_visitors_members (window_start, product_key, store_key, location_key, member)
    SELECT * FROM stage_win_hourly_product_visitor s
    WHERE NOT EXISTS (SELECT FROM win_hourly_product_views_visitors_members m
                      WHERE (m.window_start, m.product_key, m.store_key, m.location_key, m.member)
                          = (s.window_start, s.product_key, s.store_key, s.location_key, s.member))
    RETURNING window_start, product_key, store_key, location_key),
counted AS (SELECT window_start, product_key, store_key, location_key, count(*) AS n FROM fresh GROUP BY 1, 2, 3, 4)
INSERT INTO win_hourly_product_views AS t (window_start, window_end, product_key, store_key, location_key, views, visitors)
SELECT s.window_start, s.window_end, s.product_key, s.store_key, s.location_key, s.views, coalesce(c.n, 0)
FROM stage_win_hourly_product_views s LEFT JOIN counted c USING (window_start, product_key, store_key, location_key)
ON CONFLICT (window_start, product_key, store_key, location_key) DO UPDATE SET
    views = t.views + excluded.views, visitors = t.visitors + excluded.visitors
RETURNING xmax = 0)SQL";

constexpr const char* kInsertLate = R"SQL(
INSERT INTO starstream.late_event (operator, kafka_topic, kafka_partition, kafka_offset, event_time, lateness_ms, window_start, window_end,
                                   watermark, batch_id)
SELECT * FROM stage_late_event ON CONFLICT DO NOTHING)SQL";

constexpr const char* kMergePanes = R"SQL(
INSERT INTO win_product_view_panes AS t (window_start, window_end, product_key, views) SELECT * FROM stage_win_product_view_panes
ON CONFLICT (window_start, product_key) DO UPDATE SET views = t.views + excluded.views
RETURNING xmax = 0)SQL";

// The stored visits of each device that the batch's sessions of it (spanning [lo, hi + gap)) touch.
constexpr const char* kTouchedVisits = R"SQL(
SELECT v.device_id, (extract(epoch FROM v.visit_start) * 1000000)::bigint, (extract(epoch FROM v.last_event_time) * 1000000)::bigint,
       v.events, v.product_views, v.first_url, v.last_url, v.reached_checkout
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS s(device_id, lo, hi)
JOIN win_visits v ON v.device_id = s.device_id
 AND v.visit_start < 'epoch'::timestamptz + (s.hi + $4::bigint) * interval '1 microsecond'
 AND v.last_event_time > 'epoch'::timestamptz + (s.lo - $4::bigint) * interval '1 microsecond')SQL";

// Every stored visit the batch touched (merged away or grown): the merged sessions are then copied
// straight into win_visits. The writer read them under the window merge lock, so it knows which
// rows exist: no staging table and no ON CONFLICT upsert (bench/results.md, issue 13).
constexpr const char* kDeleteVisits = R"SQL(
DELETE FROM win_visits v USING unnest($1::text[], $2::bigint[]) AS d(device_id, start_us)
WHERE v.device_id = d.device_id AND v.visit_start = 'epoch'::timestamptz + d.start_us * interval '1 microsecond')SQL";

/// The i-th ':'-separated integer of a window key ("product:store:location").
std::int64_t key_part(const std::string& key, int index) {
    std::size_t begin = 0;
    for (int i = 0; i < index; ++i) begin = key.find(':', begin) + 1;
    std::int64_t value = 0;
    std::from_chars(key.data() + begin, key.data() + key.size(), value);
    return value;
}

std::int64_t as_int64(const PgResult& r, int row, int column) { return std::atoll(PQgetvalue(r.get(), row, column)); }

/// A stored visit as the session it is (the aggregates its columns keep).
engine::Session stored_session(const PgResult& r, int row) {
    engine::Session s{as_int64(r, row, 1), as_int64(r, row, 2), {}};
    auto& a = s.aggregates;
    a.count = static_cast<std::uint64_t>(as_int64(r, row, 3));
    a.sum = static_cast<double>(as_int64(r, row, 4));
    a.first_time_us = s.first_us, a.first_label = PQgetvalue(r.get(), row, 5);
    a.last_time_us = s.last_us, a.last_label = PQgetvalue(r.get(), row, 6);
    if (*PQgetvalue(r.get(), row, 7) == 't') a.distinct.insert(kCheckoutSuccess);
    return s;
}

}  // namespace

WindowWriter::WindowWriter(PgConnection& conn, BinaryCopyWriter& copy, const WindowSettings& settings)
    : conn_(conn), copy_(copy), settings_(settings) {
    conn_.exec(kCreateStaging);
}

std::int64_t WindowWriter::lock_and_read_watermark() { return lock_windows_and_read_watermark(conn_); }

TableRows WindowWriter::merge_hourly(const engine::WindowPartials& hourly) {
    copy_.reset();
    for (const auto& [id, a] : hourly.cells()) {
        const auto& [key, w] = id;
        copy_.begin_row(7), copy_.timestamptz_us(w.start_us), copy_.timestamptz_us(w.end_us);
        copy_.int8(key_part(key, 0)), copy_.int8(key_part(key, 1)), copy_.int8(key_part(key, 2));
        copy_.int8(static_cast<std::int64_t>(a.count)), copy_.int8(0);
    }
    conn_.copy_in("COPY stage_win_hourly_product_views FROM STDIN (FORMAT binary)", copy_.finish());
    copy_.reset();
    for (const auto& [id, a] : hourly.cells())
        for (const auto& device : a.distinct) {
            copy_.begin_row(5), copy_.timestamptz_us(id.second.start_us);
            copy_.int8(key_part(id.first, 0)), copy_.int8(key_part(id.first, 1)), copy_.int8(key_part(id.first, 2)), copy_.text(device);
        }
    conn_.copy_in("COPY stage_win_hourly_product_visitor FROM STDIN (FORMAT binary)", copy_.finish());
    return upserted_rows("win_hourly_product_views", conn_.exec(kMergeHourly));
}

TableRows WindowWriter::merge_panes(const engine::WindowPartials& panes) {
    copy_.reset();
    for (const auto& [id, a] : panes.cells()) {
        copy_.begin_row(4), copy_.timestamptz_us(id.second.start_us), copy_.timestamptz_us(id.second.end_us);
        copy_.int8(key_part(id.first, 0)), copy_.int8(static_cast<std::int64_t>(a.count));
    }
    conn_.copy_in("COPY stage_win_product_view_panes FROM STDIN (FORMAT binary)", copy_.finish());
    return upserted_rows("win_product_view_panes", conn_.exec(kMergePanes));
}

TableRows WindowWriter::merge_visits(engine::WindowPartials& visits) {
    const std::int64_t gap = settings_.visit_gap_us;
    auto sessions = visits.take_sessions();
    if (sessions.empty()) return {"win_visits"};
    std::vector<std::string> devices, lows, highs;
    for (const auto& [device, list] : sessions) {
        devices.push_back(device);
        lows.push_back(std::to_string(list.front().first_us));
        std::int64_t hi = INT64_MIN;
        for (const auto& s : list) hi = std::max(hi, s.last_us);
        highs.push_back(std::to_string(hi));
    }
    PgResult stored = conn_.exec_params(kTouchedVisits, {text_array(devices), text_array(lows), text_array(highs), std::to_string(gap)});
    // Stored visits join their device's new sessions. Every stored visit read is deleted and the
    // merged sessions are copied in again: one that keeps its start was grown (updated), one
    // whose start is gone was merged away (deleted).
    std::unordered_map<std::string, std::vector<std::int64_t>> stored_starts;
    std::vector<std::string> stored_devices, stored_start_texts;
    for (int i = 0; i < PQntuples(stored.get()); ++i) {
        const std::string device = PQgetvalue(stored.get(), i, 0);
        stored_starts[device].push_back(as_int64(stored, i, 1));
        stored_devices.push_back(device), stored_start_texts.emplace_back(PQgetvalue(stored.get(), i, 1));
        sessions[device].push_back(stored_session(stored, i));
    }
    if (!stored_devices.empty()) conn_.exec_params(kDeleteVisits, {text_array(stored_devices), text_array(stored_start_texts)});
    TableRows rows{"win_visits"};
    rows.deleted = static_cast<std::int64_t>(stored_devices.size());
    copy_.reset();
    for (auto& [device, list] : sessions) {
        // The batch's own sessions come merged; only a device with stored visits merges again.
        const auto found = stored_starts.find(device);
        if (found != stored_starts.end()) list = engine::merge_sessions(std::move(list), gap);
        for (const auto& s : list) {
            const bool was_stored = found != stored_starts.end() &&
                                    std::find(found->second.begin(), found->second.end(), s.first_us) != found->second.end();
            ++(was_stored ? rows.updated : rows.inserted);
            rows.deleted -= was_stored;
            const auto& a = s.aggregates;
            copy_.begin_row(9), copy_.text(device), copy_.timestamptz_us(s.first_us), copy_.timestamptz_us(s.last_us + gap), copy_.timestamptz_us(s.last_us);
            copy_.int8(static_cast<std::int64_t>(a.count)), copy_.int8(static_cast<std::int64_t>(a.sum));
            copy_.text(a.first_label), copy_.text(a.last_label), copy_.boolean(a.distinct.count(kCheckoutSuccess) > 0);
        }
    }
    // Columns named: a column an operator adds to win_visits (nullable, or with a default) is the table's.
    conn_.copy_in("COPY win_visits (device_id, visit_start, visit_end, last_event_time, events, product_views, first_url, last_url, reached_checkout)"
                  " FROM STDIN (FORMAT binary)",
                  copy_.finish());
    return rows;
}

TableRows WindowWriter::insert_late(const StarBatch& batch, const BatchWindows& windows) {
    copy_.reset();
    std::int64_t staged = 0;
    for (int t = 0; t < kWindowedTables; ++t)
        for (const auto& late : windows.tables[static_cast<std::size_t>(t)].late()) {
            const auto& f = batch.facts[static_cast<std::size_t>(late.input.origin)];
            copy_.begin_row(10), copy_.text(windowed_table_name(WindowedTable(t)));
            copy_.text(batch.topics[f.topic_index]), copy_.int4(f.partition), copy_.int8(f.offset);
            copy_.timestamptz_us(late.input.time_us), copy_.int8(late.lateness_us / 1000);
            copy_.timestamptz_us(late.target.start_us), copy_.timestamptz_us(late.target.end_us), copy_.timestamptz_us(late.watermark_us);
            copy_.int8(batch.batch_id);
            ++staged;
        }
    if (staged == 0) return {"late_event"};
    conn_.copy_in("COPY stage_late_event FROM STDIN (FORMAT binary)", copy_.finish());
    // ON CONFLICT: a replay after an operator's rewind lists nothing twice.
    const std::int64_t inserted = affected_rows(conn_.exec(kInsertLate));
    return {"late_event", inserted, 0, staged - inserted};
}

void WindowWriter::prune_visitors(std::int64_t watermark_us) {
    if (watermark_us == INT64_MIN) return;
    // An hour whose end plus allowed lateness the watermark passed takes no record again, under
    // any policy (the watermark never goes back), so its visitors are never looked up again.
    // Allowed lateness is counted whatever this instance's policy: an instance restarted (or run
    // beside others) with the correct policy must not find the visitors of a correctable hour gone.
    // Raising windows.allowed_lateness_ms therefore needs a rebuild-windows (README).
    // Hours start on the hour, so the DELETE finds rows only once the horizon enters a new hour.
    // (Should the batch roll back, the next hour's DELETE takes these rows too: it deletes `<=`.)
    const std::int64_t horizon = engine::floor_div(watermark_us - kHourUs - settings_.allowed_lateness_us, kHourUs) * kHourUs;
    if (horizon <= pruned_through_us_) return;
    pruned_through_us_ = horizon;
    conn_.exec_params("DELETE FROM win_hourly_product_views_visitors_members WHERE window_start <= 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'",
                      {std::to_string(horizon)});
}

std::vector<TableRows> WindowWriter::write(const StarBatch& batch, BatchWindows& windows) {
    std::vector<TableRows> out;
    out.push_back(merge_hourly(windows.tables[kHourlyProductViews]));
    out.push_back(merge_panes(windows.tables[kProductViewPanes]));
    out.push_back(merge_visits(windows.tables[kVisits]));
    out.push_back(insert_late(batch, windows));
    prune_visitors(windows.watermark_us);
    return out;
}

}  // namespace starstream::daemon::product_view
