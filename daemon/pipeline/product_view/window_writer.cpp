#include "pipeline/product_view/window_writer.h"

#include "sink/postgres/progress_store.h"
#include "pipeline/product_view/star_batch_writer.h"
#include "sink/postgres/bisection.h"
#include "sink/postgres/window_lock.h"

#include <spdlog/spdlog.h>

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

// Which of the batch's cells the table holds already (1-based positions in the arrays). Under the
// window merge lock no other writer adds one meanwhile, so the rest are new: they and their
// visitors are copied straight into the tables, without staging and without the upsert's
// speculative insertion per row (nearly every cell of a batch is new: bench/results.md, issue 13).
constexpr const char* kStoredHourlyCells = R"SQL(
SELECT s.i FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS s(start_us, product_key, store_key, location_key, i)
JOIN win_hourly_product_views t ON t.window_start = 'epoch'::timestamptz + s.start_us * interval '1 microsecond'
 AND t.product_key = s.product_key AND t.store_key = s.store_key AND t.location_key = s.location_key)SQL";

constexpr const char* kStoredPanes = R"SQL(
SELECT s.i FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS s(start_us, product_key, i)
JOIN win_product_view_panes t ON t.window_start = 'epoch'::timestamptz + s.start_us * interval '1 microsecond' AND t.product_key = s.product_key)SQL";

// The visitors stored for hourly cells that the table lacks: left behind by a cell deleted by
// hand (the writer deletes them only when copying such a cell fails on them).
constexpr const char* kDeleteVisitorsOfCells = R"SQL(
DELETE FROM win_hourly_product_views_visitors_members m
USING unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS s(start_us, product_key, store_key, location_key)
WHERE m.window_start = 'epoch'::timestamptz + s.start_us * interval '1 microsecond'
  AND m.product_key = s.product_key AND m.store_key = s.store_key AND m.location_key = s.location_key)SQL";

/// `values` as a Postgres array literal ("{1,2,3}").
std::string int_array(const std::vector<std::int64_t>& values) {
    std::string out = "{";
    char buffer[21];
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, values[i]).ptr);
    }
    return out + "}";
}

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

std::vector<bool> WindowWriter::stored_cells(const char* probe_sql, const std::vector<std::vector<std::int64_t>>& columns) {
    std::vector<std::string> arrays;
    for (const auto& column : columns) arrays.push_back(int_array(column));
    PgResult found = conn_.exec_params(probe_sql, arrays);
    std::vector<bool> stored(columns.front().size(), false);
    for (int i = 0; i < PQntuples(found.get()); ++i) stored[static_cast<std::size_t>(as_int64(found, i, 0) - 1)] = true;
    return stored;
}

TableRows WindowWriter::merge_hourly(const engine::WindowPartials& hourly) {
    std::vector<HourlyCell> cells;
    cells.reserve(hourly.cells().size());
    std::vector<std::vector<std::int64_t>> keys(4);
    for (const auto& [id, a] : hourly.cells()) {
        const auto& [key, w] = id;
        cells.push_back({w.start_us, w.end_us, key_part(key, 0), key_part(key, 1), key_part(key, 2), &a});
        keys[0].push_back(w.start_us), keys[1].push_back(cells.back().product), keys[2].push_back(cells.back().store);
        keys[3].push_back(cells.back().location);
    }
    TableRows rows{"win_hourly_product_views"};
    if (cells.empty()) return rows;
    const std::vector<bool> stored = stored_cells(kStoredHourlyCells, keys);

    // Cells new to the table, with their visitors, go straight in: every visitor is new to them.
    // Under a savepoint: should the member table hold visitors of a cell the table lacks (a cell
    // deleted by hand, its members left), the unique violation rolls the copies back; those
    // visitors are deleted, so that the cell counts its visitors anew like its views, and the
    // copies are made again.
    if (std::find(stored.begin(), stored.end(), false) != stored.end()) {
        conn_.exec("SAVEPOINT new_window_cells");
        try {
            rows.inserted = copy_new_cells(cells, stored);
        } catch (const PgError& e) {
            if (!unique_violation(e)) throw;
            conn_.exec("ROLLBACK TO SAVEPOINT new_window_cells");
            const std::int64_t orphans = delete_visitors_of_new_cells(keys, stored);
            spdlog::warn("deleted {} visitors of hourly cells that win_hourly_product_views lacks (deleted by hand, their visitors left in "
                         "win_hourly_product_views_visitors_members): those cells count their visitors anew ({})",
                         orphans, first_line(e.what()));
            rows.inserted = copy_new_cells(cells, stored);
        }
        conn_.exec("RELEASE SAVEPOINT new_window_cells");
    }
    if (static_cast<std::size_t>(rows.inserted) == cells.size()) return rows;

    // Stored cells: the additive upsert, their visitors probed against the member table.
    copy_.reset();
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (stored[i]) copy_cell(cells[i], 0);  // visitors: counted by the upsert
    }
    conn_.copy_in("COPY stage_win_hourly_product_views FROM STDIN (FORMAT binary)", copy_.finish());
    copy_.reset();
    for (std::size_t i = 0; i < cells.size(); ++i)
        if (stored[i]) copy_visitors(cells[i]);
    conn_.copy_in("COPY stage_win_hourly_product_visitor FROM STDIN (FORMAT binary)", copy_.finish());
    const TableRows merged = upserted_rows(rows.table, conn_.exec(kMergeHourly));
    rows.inserted += merged.inserted, rows.updated += merged.updated;
    return rows;
}

std::int64_t WindowWriter::delete_visitors_of_new_cells(const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& stored) {
    std::vector<std::vector<std::int64_t>> fresh(keys.size());
    for (std::size_t i = 0; i < stored.size(); ++i)
        if (!stored[i])
            for (std::size_t c = 0; c < keys.size(); ++c) fresh[c].push_back(keys[c][i]);
    std::vector<std::string> arrays;
    for (const auto& column : fresh) arrays.push_back(int_array(column));
    return affected_rows(conn_.exec_params(kDeleteVisitorsOfCells, arrays));
}

std::int64_t WindowWriter::copy_new_cells(const std::vector<HourlyCell>& cells, const std::vector<bool>& stored) {
    copy_.reset();
    std::int64_t copied = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (stored[i]) continue;
        copy_cell(cells[i], static_cast<std::int64_t>(cells[i].aggregates->distinct.size()));
        ++copied;
    }
    if (copied == 0) return 0;
    conn_.copy_in("COPY win_hourly_product_views (window_start, window_end, product_key, store_key, location_key, views, visitors)"
                  " FROM STDIN (FORMAT binary)",
                  copy_.finish());
    copy_.reset();
    for (std::size_t i = 0; i < cells.size(); ++i)
        if (!stored[i]) copy_visitors(cells[i]);
    conn_.copy_in("COPY win_hourly_product_views_visitors_members (window_start, product_key, store_key, location_key, member)"
                  " FROM STDIN (FORMAT binary)",
                  copy_.finish());
    return copied;
}

void WindowWriter::copy_cell(const HourlyCell& c, std::int64_t visitors) {
    copy_.begin_row(7), copy_.timestamptz_us(c.start_us), copy_.timestamptz_us(c.end_us);
    copy_.int8(c.product), copy_.int8(c.store), copy_.int8(c.location);
    copy_.int8(static_cast<std::int64_t>(c.aggregates->count)), copy_.int8(visitors);
}

void WindowWriter::copy_visitors(const HourlyCell& cell) {
    for (const auto& device : cell.aggregates->distinct) {
        copy_.begin_row(5), copy_.timestamptz_us(cell.start_us);
        copy_.int8(cell.product), copy_.int8(cell.store), copy_.int8(cell.location), copy_.text(device);
    }
}

TableRows WindowWriter::merge_panes(const engine::WindowPartials& panes) {
    std::vector<const engine::WindowPartials::Cells::value_type*> cells;
    cells.reserve(panes.cells().size());
    std::vector<std::vector<std::int64_t>> keys(2);  // start, product
    for (const auto& cell : panes.cells()) {
        cells.push_back(&cell);
        keys[0].push_back(cell.first.second.start_us), keys[1].push_back(key_part(cell.first.first, 0));
    }
    TableRows rows{"win_product_view_panes"};
    if (cells.empty()) return rows;
    const std::vector<bool> stored = stored_cells(kStoredPanes, keys);
    // Copies the panes whose stored flag is `which`; returns how many.
    auto copy_panes = [&](bool which) {
        copy_.reset();
        std::int64_t copied = 0;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (stored[i] != which) continue;
            const auto& [id, a] = *cells[i];
            copy_.begin_row(4), copy_.timestamptz_us(id.second.start_us), copy_.timestamptz_us(id.second.end_us);
            copy_.int8(keys[1][i]), copy_.int8(static_cast<std::int64_t>(a.count));
            ++copied;
        }
        return copied;
    };
    // Panes new to the table go straight in; stored ones through the additive upsert.
    if ((rows.inserted = copy_panes(false)) > 0)
        conn_.copy_in("COPY win_product_view_panes (window_start, window_end, product_key, views) FROM STDIN (FORMAT binary)", copy_.finish());
    if (copy_panes(true) > 0) {
        conn_.copy_in("COPY stage_win_product_view_panes FROM STDIN (FORMAT binary)", copy_.finish());
        const TableRows merged = upserted_rows(rows.table, conn_.exec(kMergePanes));
        rows.inserted += merged.inserted, rows.updated += merged.updated;
    }
    return rows;
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
