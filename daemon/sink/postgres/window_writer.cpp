#include "sink/postgres/window_writer.h"

#include "sink/postgres/star_batch_writer.h"

#include <charconv>

namespace starstream::daemon::postgres {

namespace {

using product_view::kHourlyProductViews;
using product_view::kProductViewPanes;
using product_view::kVisits;

constexpr const char* kCreateStaging = R"SQL(
CREATE TEMP TABLE stage_win_hourly_product_views (LIKE win_hourly_product_views) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_win_product_view_panes (LIKE win_product_view_panes) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_win_visits (LIKE win_visits) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_win_visits_retracted (device_id text, visit_start timestamptz, kafka_topic text, kafka_partition integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_late_event (LIKE starstream.late_event) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_window_state (LIKE starstream.window_state INCLUDING STORAGE) ON COMMIT DELETE ROWS;
)SQL";

/// The i-th ':'-separated integer of a window key ("product:store:location").
std::int64_t key_part(const std::string& key, int index) {
    std::size_t begin = 0;
    for (int i = 0; i < index; ++i) begin = key.find(':', begin) + 1;
    std::int64_t value = 0;
    std::from_chars(key.data() + begin, key.data() + key.size(), value);
    return value;
}

/// Bytes of a hex string (Postgres' encode(..., 'hex'): lower-case, even length).
std::string from_hex(std::string_view hex) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string bytes(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    return bytes;
}

}  // namespace

WindowWriter::WindowWriter(PgConnection& conn, BinaryCopyWriter& copy) : conn_(conn), copy_(copy) { conn_.exec(kCreateStaging); }

product_view::ClickstreamWindows::StateLoader WindowWriter::state_loader() {
    return [this](const engine::TopicPartition& tp, const char* table) -> std::optional<std::string> {
        PgResult r = conn_.exec_params(
            "SELECT encode(state, 'hex') FROM starstream.window_state WHERE operator = $1 AND kafka_topic = $2 AND kafka_partition = $3",
            {table, tp.topic, std::to_string(tp.partition)});
        if (PQntuples(r.get()) == 0) return std::nullopt;
        return from_hex(std::string_view(PQgetvalue(r.get(), 0, 0), static_cast<std::size_t>(PQgetlength(r.get(), 0, 0))));
    };
}

TableRows WindowWriter::upsert(const char* table, const std::string& sql) {
    PgResult rows = conn_.exec(sql);
    TableRows counts{table};
    for (int i = 0; i < PQntuples(rows.get()); ++i) (*PQgetvalue(rows.get(), i, 0) == 't' ? counts.inserted : counts.updated) += 1;
    return counts;
}

std::vector<TableRows> WindowWriter::write(const product_view::StarBatch& batch, const std::vector<product_view::PartitionWindows>& windows) {
    auto copy = [&](const std::string& table) { conn_.copy_in("COPY " + table + " FROM STDIN (FORMAT binary)", copy_.finish()); };
    auto window_bounds = [&](const engine::Window& w) { copy_.timestamptz_us(w.start_us), copy_.timestamptz_us(w.end_us); };
    auto lineage = [&](const engine::TopicPartition& tp) { copy_.text(tp.topic), copy_.int4(tp.partition); };

    copy_.reset();
    for (const auto& p : windows)
        for (const auto& r : p.rows[kHourlyProductViews]) {
            copy_.begin_row(11), window_bounds(r.window);
            copy_.int8(key_part(r.key, 0)), copy_.int8(key_part(r.key, 1)), copy_.int8(key_part(r.key, 2)), lineage(p.partition);
            copy_.int8(static_cast<std::int64_t>(r.aggregates.count)), copy_.int8(static_cast<std::int64_t>(r.aggregates.distinct_count()));
            copy_.boolean(r.is_final), copy_.int4(static_cast<std::int32_t>(r.revision));
        }
    copy("stage_win_hourly_product_views");

    copy_.reset();
    for (const auto& p : windows)
        for (const auto& r : p.rows[kProductViewPanes]) {
            copy_.begin_row(8), window_bounds(r.window), copy_.int8(key_part(r.key, 0)), lineage(p.partition);
            copy_.int8(static_cast<std::int64_t>(r.aggregates.count)), copy_.boolean(r.is_final), copy_.int4(static_cast<std::int32_t>(r.revision));
        }
    copy("stage_win_product_view_panes");

    std::string retracted;
    copy_.reset();
    for (const auto& p : windows)
        for (const auto& r : p.rows[kVisits]) {
            if (r.retracted) continue;
            const auto& a = r.aggregates;
            // A session window ends one gap after its last event; visit_start is its first event.
            copy_.begin_row(12), copy_.text(r.key), copy_.timestamptz_us(a.first_time_us), copy_.timestamptz_us(r.window.end_us), lineage(p.partition);
            copy_.int8(static_cast<std::int64_t>(a.count)), copy_.int8(static_cast<std::int64_t>(a.sum));
            copy_.text(a.first_label), copy_.text(a.last_label), copy_.boolean(a.distinct.count("checkout_success") > 0);
            copy_.boolean(r.is_final), copy_.int4(static_cast<std::int32_t>(r.revision));
        }
    copy("stage_win_visits");
    copy_.reset();
    std::size_t retractions = 0;
    for (const auto& p : windows)
        for (const auto& r : p.rows[kVisits])
            if (r.retracted) ++retractions, copy_.begin_row(4), copy_.text(r.key), copy_.timestamptz_us(r.aggregates.first_time_us), lineage(p.partition);
    copy("stage_win_visits_retracted");

    copy_.reset();
    for (const auto& p : windows)
        for (int t = 0; t < product_view::kWindowedTables; ++t)
            for (const auto& late : p.late[t]) {
                copy_.begin_row(10), copy_.text(product_view::windowed_table_name(product_view::WindowedTable(t))), lineage(p.partition);
                copy_.int8(late.input.origin), copy_.timestamptz_us(late.input.time_us), copy_.int8(late.lateness_us / 1000);
                window_bounds(late.target), copy_.timestamptz_us(late.watermark_us), copy_.int8(batch.batch_id);
            }
    copy("stage_late_event");

    copy_.reset();
    for (const auto& p : windows)
        for (int t = 0; t < product_view::kWindowedTables; ++t) {
            if (p.state[t].empty()) continue;
            copy_.begin_row(5), copy_.text(product_view::windowed_table_name(product_view::WindowedTable(t))), lineage(p.partition);
            copy_.bytea(p.state[t]), copy_.int8(batch.batch_id);
        }
    copy("stage_window_state");

    std::vector<TableRows> out;
    // Only when there is something to delete: the planner knows nothing of the temporary table
    // and may scan all of win_visits for it.
    if (retractions > 0)
        conn_.exec("DELETE FROM win_visits v USING stage_win_visits_retracted r WHERE v.device_id = r.device_id AND v.visit_start = r.visit_start"
                   " AND v.kafka_topic = r.kafka_topic AND v.kafka_partition = r.kafka_partition");
    out.push_back(upsert("win_hourly_product_views",
                         "INSERT INTO win_hourly_product_views SELECT * FROM stage_win_hourly_product_views"
                         " ON CONFLICT (window_start, product_key, store_key, location_key, kafka_topic, kafka_partition) DO UPDATE SET"
                         " views = excluded.views, visitors = excluded.visitors, is_final = excluded.is_final, revision = excluded.revision"
                         " RETURNING xmax = 0"));
    out.push_back(upsert("win_product_view_panes",
                         "INSERT INTO win_product_view_panes SELECT * FROM stage_win_product_view_panes"
                         " ON CONFLICT (window_start, product_key, kafka_topic, kafka_partition) DO UPDATE SET"
                         " views = excluded.views, is_final = excluded.is_final, revision = excluded.revision RETURNING xmax = 0"));
    out.push_back(upsert("win_visits",
                         "INSERT INTO win_visits SELECT * FROM stage_win_visits"
                         " ON CONFLICT (device_id, visit_start, kafka_topic, kafka_partition) DO UPDATE SET"
                         " visit_end = excluded.visit_end, events = excluded.events, product_views = excluded.product_views,"
                         " first_url = excluded.first_url, last_url = excluded.last_url, reached_checkout = excluded.reached_checkout,"
                         " is_final = excluded.is_final, revision = excluded.revision RETURNING xmax = 0"));
    out.push_back({"late_event", affected_rows(conn_.exec("INSERT INTO starstream.late_event SELECT * FROM stage_late_event ON CONFLICT DO NOTHING"))});
    conn_.exec("INSERT INTO starstream.window_state SELECT * FROM stage_window_state"
               " ON CONFLICT (operator, kafka_topic, kafka_partition) DO UPDATE SET state = excluded.state, batch_id = excluded.batch_id");
    return out;
}

}  // namespace starstream::daemon::postgres
