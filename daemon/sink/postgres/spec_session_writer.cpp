#include "sink/postgres/spec_session_writer.h"

#include "sink/postgres/batch_writer.h"
#include "sink/postgres/progress_store.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/spec_first_last.h"
#include "sink/postgres/spec_late_events.h"
#include "sink/postgres/stage_fold.h"
#include "sink/postgres/table_columns.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/value_text.h"
#include "spec/table_schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <map>
#include <numeric>
#include <tuple>

namespace starstream::daemon::postgres {

using spec::input_view;

namespace {

using spec::AggregateFunction;
using Aggregate = SpecSessionWriter::Aggregate;

/// The group key names of a part (SessionSql): ", g0, g1"; with prefix "b.": ", b.g0, b.g1".
std::string group_names(std::size_t groups, const char* prefix = "") {
    std::string out;
    for (std::size_t j = 0; j < groups; ++j) out += fmt::format(", {}g{}", prefix, j);
    return out;
}

bool ordered(AggregateFunction f) { return f == AggregateFunction::first || f == AggregateFunction::last; }

/// Whether aggregate `a` is staged one value per record (or candidate) rather than summed over
/// the island in C++: first/last (their candidates), and sum, min, max and avg, whose inputs only
/// PostgreSQL adds and compares as their type does (numeric, a column's collation).
bool staged_per_value(const Aggregate& a) { return a.function != AggregateFunction::count && a.function != AggregateFunction::any; }

/// Aggregate i of a staged row as a part: c<i> (count: the island's records passing its filter),
/// b<i> (any), a<i> (a value, text) and ft<i> (first/last: the candidate's event time).
std::string staged_part(const Aggregate& a, std::size_t i) {
    switch (a.function) {
        case AggregateFunction::count: return fmt::format("c{0} AS v{0}", i);
        case AggregateFunction::any: return fmt::format("b{0} AS v{0}", i);
        case AggregateFunction::first:
        case AggregateFunction::last: return fmt::format("a{0}::{1} AS v{0}, ft{0}", i, a.type);
        case AggregateFunction::avg:  // v: the sum, n: the count of values
            return fmt::format("a{0}::{1} AS v{0}, CASE WHEN a{0} IS NOT NULL THEN 1 ELSE 0 END::bigint AS n{0}", i, a.sum_type);
        default: return fmt::format("a{0}::{1} AS v{0}", i, a.type);
    }
}

/// Aggregate i of the parts of one session, merged (see the header).
std::string merged_part(const Aggregate& a, std::size_t i) {
    switch (a.function) {
        case AggregateFunction::count: return fmt::format("sum(v{0})::bigint AS v{0}", i);
        case AggregateFunction::sum: return fmt::format("sum(v{0})::{1} AS v{0}", i, a.type);
        case AggregateFunction::avg: return fmt::format("sum(v{0})::{1} AS v{0}, sum(n{0})::bigint AS n{0}", i, a.sum_type);
        case AggregateFunction::min: return fmt::format("min(v{0}) AS v{0}", i);
        case AggregateFunction::max: return fmt::format("max(v{0}) AS v{0}", i);
        case AggregateFunction::any: return fmt::format("bool_or(v{0}) AS v{0}", i);
        case AggregateFunction::first:  // the tie rule of spec_first_last.h
            return fmt::format("(array_agg(v{0} ORDER BY ft{0}, {1}) FILTER (WHERE ft{0} IS NOT NULL))[1] AS v{0}, min(ft{0}) AS ft{0}", i,
                               first_last_tie_order(a.function, fmt::format("v{}", i), a.type));
        case AggregateFunction::last:
            return fmt::format("(array_agg(v{0} ORDER BY ft{0} DESC, {1}) FILTER (WHERE ft{0} IS NOT NULL))[1] AS v{0}, max(ft{0}) AS ft{0}", i,
                               first_last_tie_order(a.function, fmt::format("v{}", i), a.type));
        default: return {};  // refused by unsupported()
    }
}

/// The part columns of the aggregates: "v0, v1, ft1, v2, n2" (first/last: ft, avg: n).
std::string part_columns(const std::vector<Aggregate>& aggregates) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < aggregates.size(); ++i) {
        out.push_back(fmt::format("v{}", i));
        if (ordered(aggregates[i].function)) out.push_back(fmt::format("ft{}", i));
        if (aggregates[i].function == AggregateFunction::avg) out.push_back(fmt::format("n{}", i));
    }
    return fmt::format("{}", fmt::join(out, ", "));
}

template <typename F>
std::string joined(const std::vector<Aggregate>& aggregates, F&& f, const char* separator = ", ") {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < aggregates.size(); ++i) out.push_back(f(aggregates[i], i));
    return fmt::format("{}", fmt::join(out, separator));
}

/// The statements of one session table. The parts they merge, stored sessions and staged
/// records alike, are named k (session key), g<j> (group keys), s and l (first and last event
/// time), v<i> (aggregate i; avg: its sum), ft<i> (first/last: its value's event time) and n<i>
/// (avg: its count).
struct SessionSql {
    std::string table, key_column, start_column, end_column;
    std::string gap;  ///< an interval literal
    std::string key_type;
    std::vector<std::string> group_columns, group_types;
    std::vector<Aggregate> aggregates;
    std::string stage_table, met_table;

    /// Staged parts of the batch's islands (SpecSessionWriter::stage_island): i (the island), k,
    /// g<j> (text), s and l (the island's first and last event time), and per aggregate its
    /// staged_part columns.
    std::string create_stage() const {
        std::string columns = "i integer, k text";
        for (std::size_t j = 0; j < group_columns.size(); ++j) columns += fmt::format(", g{} text", j);
        columns += ", s timestamptz, l timestamptz";
        for (std::size_t i = 0; i < aggregates.size(); ++i) {
            const Aggregate& a = aggregates[i];
            if (a.function == AggregateFunction::count) columns += fmt::format(", c{} bigint", i);
            else if (a.function == AggregateFunction::any) columns += fmt::format(", b{} boolean", i);
            else columns += fmt::format(", a{} text", i);
            if (ordered(a.function)) columns += fmt::format(", ft{} timestamptz", i);
        }
        return fmt::format("CREATE TEMP TABLE {} ({}) ON COMMIT DELETE ROWS", stage_table, columns);
    }

    /// The stored sessions met, as typed parts, with each one's row (locked: it stays where it is
    /// until the transaction ends), so that step 4 deletes by row, not by a join with the table.
    std::string create_met() const {
        std::string columns = "row_id tid, k " + key_type;
        for (std::size_t j = 0; j < group_types.size(); ++j) columns += fmt::format(", g{} {}", j, group_types[j]);
        columns += ", s timestamptz, l timestamptz";
        for (std::size_t i = 0; i < aggregates.size(); ++i) {
            const Aggregate& a = aggregates[i];
            columns += fmt::format(", v{} {}", i, a.function == AggregateFunction::avg ? a.sum_type : a.type);
            if (ordered(a.function)) columns += fmt::format(", ft{} timestamptz", i);
            if (a.function == AggregateFunction::avg) columns += fmt::format(", n{} bigint", i);
        }
        return fmt::format("CREATE TEMP TABLE {} ({}) ON COMMIT DELETE ROWS", met_table, columns);
    }

    /// Step 3: the batch's islands (parameters: arrays of their session keys, of each group key,
    /// as text, of their first and last event times in Unix microseconds), the stored sessions
    /// they meet copied into the met table and locked in primary key order. One index probe per
    /// island finds the latest stored session of its key starting before hi + gap (hi: the
    /// island's last record, lo: its first). None: the island meets nothing. One starting before
    /// lo: none starts in [lo, hi + gap), so the island meets that one alone, when its last
    /// record is within the gap of lo. One starting at or after lo: the island may meet
    /// several, looked up in two more probes (those starting in [lo, hi + gap), and the latest
    /// starting before lo). In a backlog most islands meet nothing: one probe each, not two.
    /// Arrays, not a staged table: the planner expects few rows of an unnest and probes the
    /// table's index per island.
    /// The sessions met are then read and locked one index probe each (LATERAL, in the order of
    /// the sorted met rows), not joined: the planner, expecting far more of them than there are,
    /// chose a hash join over the whole table, a cost that grew with the table. Returns a row per
    /// island meeting a stored session: its 1-based place in the arrays, and how many sessions
    /// were locked; no row when none was. (A data-modifying WITH runs once, to completion.)
    std::string lock() const {
        const std::string stored_parts = joined(aggregates, [&](const Aggregate& a, std::size_t i) {
            if (a.function == AggregateFunction::avg) return fmt::format("w.{0} AS v{2}, w.{1} AS n{2}", sql_identifier(a.state[0]), sql_identifier(a.state[1]), i);
            std::string out = fmt::format("w.{} AS v{}", sql_identifier(a.column), i);
            if (!ordered(a.function)) return out;
            const std::string time = !a.state.empty() ? sql_identifier(a.state[0]) : a.function == AggregateFunction::first ? start() : last();
            return out + fmt::format(", w.{} AS ft{}", time, i);
        });
        return fmt::format(
            "WITH island AS (SELECT {typed}, 'epoch'::timestamptz + lo * interval '1 microsecond' AS lo,"
            " 'epoch'::timestamptz + hi * interval '1 microsecond' AS hi, i FROM unnest({arrays}) WITH ORDINALITY AS b(k{g}, lo, hi, i)),\n"
            "latest AS (SELECT b.*, q.s AS qs, q.l AS ql FROM island b CROSS JOIN LATERAL (SELECT w.{start} AS s, w.{last} AS l FROM {table} w"
            " WHERE {same} AND w.{start} < b.hi + {gap} ORDER BY w.{start} DESC LIMIT 1) q),\n"
            "met (i, k{g}, s) AS (SELECT b.i, b.k{g_b}, b.qs FROM latest b WHERE b.qs < b.lo AND b.ql + {gap} > b.lo\n"
            "        UNION ALL\n"
            "        SELECT b.i, {key_w}, w.{start} FROM latest b JOIN {table} w ON {same} AND w.{start} >= b.lo AND w.{start} < b.hi + {gap}"
            " WHERE b.qs >= b.lo\n"
            "        UNION ALL\n"
            "        SELECT b.i, b.k{g_b}, p.{start} FROM latest b CROSS JOIN LATERAL (SELECT w.{start}, w.{last} FROM {table} w WHERE {same}"
            " AND w.{start} < b.lo ORDER BY w.{start} DESC LIMIT 1) p WHERE b.qs >= b.lo AND p.{last} + {gap} > b.lo),\n"
            "locked AS (INSERT INTO {met} (row_id, k{g}, s, l, {parts})\n"
            "SELECT w.ctid, {key_w}, w.{start}, w.{last}, {stored_parts} FROM (SELECT DISTINCT k{g}, s FROM met ORDER BY k{g}, s) m\n"
            "CROSS JOIN LATERAL (SELECT w.ctid, w.* FROM {table} w WHERE {same_m} AND w.{start} = m.s FOR UPDATE) w RETURNING 1)\n"
            "SELECT DISTINCT i, (SELECT count(*) FROM locked) FROM met",
            fmt::arg("typed", typed_key()), fmt::arg("arrays", island_arrays()), fmt::arg("g", group_names(group_columns.size())),
            fmt::arg("g_b", group_names(group_columns.size(), "b.")), fmt::arg("gap", gap), fmt::arg("table", sql_identifier(table)),
            fmt::arg("same", same_key("w", "b")), fmt::arg("same_m", same_key("w", "m")), fmt::arg("start", start()), fmt::arg("last", last()),
            fmt::arg("key_w", stored_key()), fmt::arg("met", met_table), fmt::arg("parts", part_columns(aggregates)), fmt::arg("stored_parts", stored_parts));
    }

    /// Step 4: stored sessions and the batch's islands (their records aggregated) as intervals
    /// [s, l + gap), ordered by start, a new session wherever the start is not before the greatest
    /// l + gap so far. Peers (equal s and l) share a session whatever their order, so the
    /// numbering's frame includes them (RANGE). Every merge of parts is associative, so records
    /// may be merged into their island first.
    std::string merge() const {
        std::string columns = sql_identifier(key_column), values = "k" + group_names(group_columns.size());
        for (const auto& g : group_columns) columns += ", " + sql_identifier(g);
        columns += fmt::format(", {}, {}, {}", start(), sql_identifier(end_column), last());
        values += fmt::format(", s, l + {}, l", gap);
        std::string updates = fmt::format("{0} = excluded.{0}, {1} = excluded.{1}", sql_identifier(end_column), last());
        for (std::size_t i = 0; i < aggregates.size(); ++i) {
            const Aggregate& a = aggregates[i];
            columns += ", " + sql_identifier(a.column);
            // avg: the quotient of its merged state (NULL while the count is 0), as the fixed windows make it.
            values += a.function == AggregateFunction::avg ? fmt::format(", v{0}::{1} / nullif(n{0}, 0)", i, a.type) : fmt::format(", v{}", i);
            updates += fmt::format(", {0} = excluded.{0}", sql_identifier(a.column));
            for (std::size_t k = 0; k < a.state.size(); ++k) {
                columns += ", " + sql_identifier(a.state[k]);
                values += fmt::format(", {}{}", a.function == AggregateFunction::avg && k == 1 ? "n" : a.function == AggregateFunction::avg ? "v" : "ft", i);
                updates += fmt::format(", {0} = excluded.{0}", sql_identifier(a.state[k]));
            }
        }
        std::string same_groups;
        for (std::size_t j = 0; j < group_columns.size(); ++j) same_groups += fmt::format(" AND m.g{0} = b.g{0}", j);
        return fmt::format(
            "WITH parts AS (SELECT {typed}, min(s) AS s, max(l) AS l, {merged_parts} FROM (SELECT i, k{g}, s, l, {staged_parts} FROM {stage}) r"
            " GROUP BY i, k{g}\n"
            "               UNION ALL SELECT k{g}, s, l, {parts} FROM {met}),\n"
            "opened AS (SELECT p.*, CASE WHEN max(l) OVER (PARTITION BY k{g} ORDER BY s, l ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
            " + {gap} > s THEN 0 ELSE 1 END AS opens FROM parts p),\n"
            "numbered AS (SELECT o.*, sum(opens) OVER (PARTITION BY k{g} ORDER BY s, l) AS n FROM opened o),\n"
            "merged AS (SELECT k{g}, min(s) AS s, max(l) AS l, {merged_parts} FROM numbered GROUP BY k{g}, n),\n"
            // The stored sessions now inside an earlier one; the others are upserted below (their
            // keys differ from every merged session's, so the two never touch one row).
            "gone AS (DELETE FROM {table} w WHERE w.ctid = ANY (ARRAY(SELECT b.row_id FROM {met} b"
            " WHERE NOT EXISTS (SELECT 1 FROM merged m WHERE m.k = b.k{same_groups} AND m.s = b.s))))\n"
            "INSERT INTO {table} AS w ({columns})\nSELECT {values} FROM merged ORDER BY k{g}, s\n"
            "ON CONFLICT ({pk}) DO UPDATE SET {updates}\nRETURNING xmax = 0",
            fmt::arg("typed", typed_key()), fmt::arg("stage", stage_table), fmt::arg("g", group_names(group_columns.size())),
            fmt::arg("staged_parts", joined(aggregates, staged_part)), fmt::arg("parts", part_columns(aggregates)), fmt::arg("met", met_table),
            fmt::arg("gap", gap), fmt::arg("merged_parts", joined(aggregates, merged_part)), fmt::arg("table", sql_identifier(table)),
            fmt::arg("same", same_key("w", "b")), fmt::arg("start", start()), fmt::arg("same_groups", same_groups), fmt::arg("columns", columns),
            fmt::arg("values", values), fmt::arg("pk", primary_key()), fmt::arg("updates", updates));
    }

    /// The COPY of new sessions: the key, groups, bounds and last event time, then each
    /// aggregate's column and its state columns (SpecSessionWriter::copy_session's order).
    std::string copy() const {
        std::vector<std::string> columns{sql_identifier(key_column)};
        for (const auto& g : group_columns) columns.push_back(sql_identifier(g));
        columns.insert(columns.end(), {start(), sql_identifier(end_column), last()});
        for (const Aggregate& a : aggregates) {
            columns.push_back(sql_identifier(a.column));
            for (const auto& c : a.state) columns.push_back(sql_identifier(c));
        }
        return fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", sql_identifier(table), fmt::join(columns, ", "));
    }

private:
    std::string start() const { return sql_identifier(start_column); }
    std::string last() const { return sql_identifier(spec::kSessionLastEventTime); }
    /// "w.device_id = b.k AND w.store_key = b.g0" (stored row against part).
    std::string same_key(const char* stored, const char* part) const {
        std::string out = fmt::format("{}.{} = {}.k", stored, sql_identifier(key_column), part);
        for (std::size_t j = 0; j < group_columns.size(); ++j) out += fmt::format(" AND {}.{} = {}.g{}", stored, sql_identifier(group_columns[j]), part, j);
        return out;
    }
    /// The stored row w's session key and group keys: "w.device_id, w.store_key".
    std::string stored_key() const {
        std::string out = "w." + sql_identifier(key_column);
        for (const auto& g : group_columns) out += ", w." + sql_identifier(g);
        return out;
    }
    /// The primary key's columns, in its order: "device_id, store_key, visit_start".
    std::string primary_key() const {
        std::string out = sql_identifier(key_column);
        for (const auto& g : group_columns) out += ", " + sql_identifier(g);
        return out + ", " + start();
    }
    /// The island parameters of lock(): "$1::text[], $2::text[], $3::bigint[], $4::bigint[]".
    std::string island_arrays() const {
        std::string out;
        for (std::size_t p = 1; p <= group_columns.size() + 1; ++p) out += fmt::format("${}::text[], ", p);
        return out + fmt::format("${}::bigint[], ${}::bigint[]", group_columns.size() + 2, group_columns.size() + 3);
    }
    /// The staged keys cast to their types: "k::text AS k, g0::bigint AS g0".
    std::string typed_key() const {
        std::string out = fmt::format("k::{} AS k", key_type);
        for (std::size_t j = 0; j < group_types.size(); ++j) out += fmt::format(", g{0}::{1} AS g{0}", j, group_types[j]);
        return out;
    }
};

}  // namespace

std::string SpecSessionWriter::unsupported(const spec::WindowTableSpec& w) {
    for (const auto& a : w.aggregates) {
        const std::string key = "windows." + w.table + ".aggregates." + a.column;
        if (a.function == AggregateFunction::count_distinct)
            return key + ": count_distinct is not computed on session windows (merging two sessions would need every distinct value of both)";
        if (a.function == AggregateFunction::mode)
            return key + ": mode is not computed on session windows (merging two sessions would need every value's occurrences in both)";
    }
    return {};
}

SpecSessionWriter::SpecSessionWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout,
                                     const spec::WindowTableSpec& w, const spec::RecordFilters& filters)
    : conn_(conn), copy_(copy), table_(w.table),
      window_{{engine::WindowKind::session, 0, 0, w.gap_us},
              w.late == spec::LatePolicy::correct       ? engine::LatePolicy::correct
              : w.late == spec::LatePolicy::dead_letter ? engine::LatePolicy::dead_letter
                                                         : engine::LatePolicy::drop,
              w.allowed_lateness_us},
      filters_(filters),
      where_(filters.number(w.where)) {
    for (auto& s : spec::folded_sessions(spec, layout, filters))
        if (s.table == w.table) folded_ = std::make_shared<const spec::FoldedSession>(std::move(s));
    key_ = folded_->key, groups_ = folded_->groups;
    SessionSql sql{w.table, spec::column_name_of(w.session_key), w.start_column, w.end_column, fmt::format("interval '{} microseconds'", w.gap_us),
                   key_.type, {}, {}, {}, temp_table_name("stage_spec", w.table), temp_table_name("stage_spec", w.table, "met")};
    for (std::size_t i = 0; i < w.group_by.size(); ++i) {
        const std::string& g = w.group_by[i];
        sql.group_columns.push_back(groups_[i].dimension ? spec::surrogate_key_column(g) : spec::column_name_of(g));
        sql.group_types.push_back(groups_[i].type);
    }
    std::map<std::string, std::string> column_types;  // as the migrations make them (table_schema.h)
    for (const auto& t : spec::table_schemas(spec))
        if (t.table == w.table)
            for (const auto& c : t.columns) column_types[c.name] = c.type;
    for (const auto& a : w.aggregates) {
        Aggregate agg{a.column, column_types.at(a.column), a.function, std::nullopt, filters.number(a.where), spec::aggregate_state_columns(w, a), {}};
        if (a.function == AggregateFunction::avg) agg.sum_type = column_types.at(agg.state.at(0));
        if (!a.of.empty()) agg.input = Input{layout.at(a.of), spec::reference_type(spec, a.of), false};
        aggregates_.push_back(std::move(agg));
    }
    sql.aggregates = aggregates_;
    stage_table_ = sql.stage_table;
    key_column_ = sql.key_column, start_column_ = w.start_column, end_column_ = w.end_column, group_columns_ = sql.group_columns;
    conn_.exec(sql.create_stage());
    conn_.exec(sql.create_met());
    lock_sql_ = sql.lock();
    merge_sql_ = sql.merge();
    spdlog::debug("session merge of {}: {}\n{}", table_, lock_sql_, merge_sql_);
    if (const std::string why = ineligible_for_copy(conn_); why.empty())
        copy_sql_ = sql.copy();
    else
        spdlog::debug("{}: every island through the merge statement ({})", table_, why);
}

std::string SpecSessionWriter::ineligible_for_copy(PgConnection& conn) const {
    const auto table = database_columns(conn, sql_identifier(table_));
    // Keys compared as bytes here (islands) must be equal exactly when PostgreSQL finds them equal.
    if (key_.type != "text" || !column_is(table, key_column_, "text")) return "its session key is not bytewise text";
    for (std::size_t j = 0; j < groups_.size(); ++j)
        if (!(groups_[j].dimension ? column_is(table, group_columns_[j], "bigint") : groups_[j].type == "text" && column_is(table, group_columns_[j], "text")))
            return fmt::format("group column {} is not bigint or bytewise text", group_columns_[j]);
    for (const std::string& c : {start_column_, end_column_, std::string(spec::kSessionLastEventTime)})
        if (!column_is(table, c, "timestamp with time zone")) return fmt::format("column {} is not timestamptz", c);
    for (const Aggregate& a : aggregates_) {
        if (a.function == AggregateFunction::count && column_is(table, a.column, "bigint")) continue;
        if (a.function == AggregateFunction::any && column_is(table, a.column, "boolean")) continue;
        // first/last: their tie rule compares text bytewise (spec_first_last.h), as std::string does.
        if (ordered(a.function) && a.input->type == "text" && column_is(table, a.column, "text") &&
            std::all_of(a.state.begin(), a.state.end(), [&](const std::string& c) { return column_is(table, c, "timestamp with time zone"); }))
            continue;
        return fmt::format("aggregate {} is not a count, an any or a first/last of bytewise text", a.column);
    }
    return {};
}

SpecSessionWriter::IslandFold SpecSessionWriter::fold_island(const spec::SpecBatch& batch, const Admitted* first, const Admitted* last) const {
    // Summed here where that needs no type (count, any); one value per record where PostgreSQL
    // must add or compare them (staged_per_value); a first (last) only its candidates: the values
    // of its records at the earliest (latest) time among those passing its filter, distinct.
    const std::size_t n = aggregates_.size();
    IslandFold fold{std::vector<std::int64_t>(n, 0), std::vector<std::vector<std::optional<std::string>>>(n), std::vector<std::int64_t>(n)};
    std::string buffer;
    auto value_of = [&](std::size_t i, const spec::SpecRow& row) -> std::optional<std::string> {
        const auto v = input_view(row.values[aggregates_[i].input->index], aggregates_[i].input->type, buffer);
        return v ? std::optional<std::string>(*v) : std::nullopt;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const Aggregate& a = aggregates_[i];
        auto passes = [&](const Admitted& r) { return filters_.passes(a.where, batch.rows[r.r]); };
        for (const Admitted* r = first; r != last; ++r) {
            if (!passes(*r)) continue;
            ++fold.counted[i];
            if (staged_per_value(a) && !ordered(a.function))
                if (auto v = value_of(i, batch.rows[r->r])) fold.values[i].push_back(std::move(v));  // NULL adds, bounds and averages nothing
        }
        if (!ordered(a.function)) continue;
        // The records are sorted by time: a first's candidates lead the island, a last's end it,
        // so only the ties at that end are read (a value per record would cost a copy each).
        auto take_candidates = [&](auto begin, auto end) {
            const auto at = std::find_if(begin, end, passes);
            fold.extreme[i] = at == end ? (a.function == AggregateFunction::first ? INT64_MAX : INT64_MIN) : at->t;
            for (auto r = at; r != end && r->t == fold.extreme[i]; ++r) {
                if (!passes(*r)) continue;
                auto& values = fold.values[i];
                if (auto v = value_of(i, batch.rows[r->r]); std::find(values.begin(), values.end(), v) == values.end()) values.push_back(std::move(v));
            }
        };
        if (a.function == AggregateFunction::first)
            take_candidates(first, last);
        else
            take_candidates(std::make_reverse_iterator(last), std::make_reverse_iterator(first));
    }
    return fold;
}

void SpecSessionWriter::stage_island(const std::vector<std::string_view>& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi,
                                     std::int32_t island) {
    // Step 4 merges the rows of one island like any parts, so the island takes as many rows as
    // its longest list of values (one, for count, any and untied first/last).
    const std::size_t n = aggregates_.size();
    std::size_t rows = 1;
    for (const auto& v : fold.values) rows = std::max(rows, v.size());
    // create_stage's columns: i, k, the groups, s, l, one per aggregate, a first/last's ft.
    const auto columns = static_cast<std::int16_t>(4 + groups_.size() + n +
                                                   std::count_if(aggregates_.begin(), aggregates_.end(), [](const Aggregate& a) { return ordered(a.function); }));
    for (std::size_t j = 0; j < rows; ++j) {
        copy_.begin_row(columns);
        copy_.int4(island);
        for (const auto part : key) copy_.text(part);
        copy_.timestamptz_us(lo), copy_.timestamptz_us(hi);
        for (std::size_t i = 0; i < n; ++i) {
            const Aggregate& a = aggregates_[i];
            if (a.function == AggregateFunction::count) {
                copy_.int8(j == 0 ? fold.counted[i] : 0);
                continue;
            }
            if (a.function == AggregateFunction::any) {
                copy_.boolean(j == 0 && fold.counted[i] > 0);
                continue;
            }
            const bool has = j < fold.values[i].size();
            has && fold.values[i][j] ? copy_.text(*fold.values[i][j]) : copy_.null();
            if (ordered(a.function)) has ? copy_.timestamptz_us(fold.extreme[i]) : copy_.null();
        }
    }
}

void SpecSessionWriter::copy_session(const std::vector<std::string_view>& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi) {
    // copy_sql_'s columns: the key, the groups (a dimension's key as int8), start, end, last
    // event time, then per aggregate its value and its state (a filtered first/last's time).
    const auto columns = static_cast<std::int16_t>(4 + groups_.size() + std::accumulate(aggregates_.begin(), aggregates_.end(), std::size_t{0},
                                                                                         [](std::size_t c, const Aggregate& a) { return c + 1 + a.state.size(); }));
    copy_.begin_row(columns);
    copy_.text(key[0]);
    for (std::size_t j = 0; j < groups_.size(); ++j) {
        if (!groups_[j].dimension) {
            copy_.text(key[1 + j]);
            continue;
        }
        std::int64_t k = 0;  // admit wrote it with fmt::format_int
        std::from_chars(key[1 + j].data(), key[1 + j].data() + key[1 + j].size(), k);
        copy_.int8(k);
    }
    copy_.timestamptz_us(lo), copy_.timestamptz_us(hi + window_.window.gap_us), copy_.timestamptz_us(hi);
    for (std::size_t i = 0; i < aggregates_.size(); ++i) {
        const Aggregate& a = aggregates_[i];
        if (a.function == AggregateFunction::count) {
            copy_.int8(fold.counted[i]);
        } else if (a.function == AggregateFunction::any) {
            copy_.boolean(fold.counted[i] > 0);
        } else {  // first or last (ineligible_for_copy): the candidate winning spec_first_last.h's tie rule
            const auto& candidates = fold.values[i];
            // NULL is the least value: first takes it if any candidate is NULL, last only if all are.
            const auto winner = a.function == AggregateFunction::first ? std::min_element(candidates.begin(), candidates.end())
                                                                       : std::max_element(candidates.begin(), candidates.end());
            winner != candidates.end() && *winner ? copy_.text(**winner) : copy_.null();
            if (!a.state.empty()) candidates.empty() ? copy_.null() : copy_.timestamptz_us(fold.extreme[i]);
        }
    }
}

engine::TableRows SpecSessionWriter::merge(const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                           const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& counted,
                                           std::int64_t watermark_us, engine::LateRecords& late) {
    late.table = table_;
    copy_.reset();
    SpecLateEvents late_events;
    std::vector<bool> admissible(end - begin, false);  // counted, passing the filter, and on time or corrected
    for (std::size_t r = begin; r < end; ++r) {
        const spec::SpecRow& row = batch.rows[r];
        if (!counted[r] || !filters_.passes(where_, row)) continue;
        switch (engine::judge_lateness(window_, row.event_time_us, watermark_us)) {
            case engine::LateVerdict::on_time: break;
            case engine::LateVerdict::corrected: ++late.by_policy[2]; break;
            case engine::LateVerdict::dropped: ++late.by_policy[0]; continue;
            case engine::LateVerdict::dead_lettered: {
                ++late.by_policy[1];
                // Its own window [t, t + gap): the session it would have started or joined.
                late_events.add(table_, batch, row, engine::first_window(window_.window, row.event_time_us), watermark_us);
                continue;
            }
        }
        admissible[r - begin] = true;
    }
    late_events.insert(conn_);  // through the staging table SpecWindowWriter made (SpecLateEvents::create_staging)
    // The records the operator admitted, sorted by key and time (spec/session_fold.h), less those
    // the transaction excludes: still sorted.
    std::optional<spec::SessionFold> own;
    const spec::SessionFold& operator_fold = fold_for_write(batch.session_folds, folded_, folded_->dimensions(), batch, begin, end, keys, filters_, own);
    std::vector<Admitted> admitted;
    for (const Admitted& a : operator_fold.admitted())
        if (admissible[a.r - begin]) admitted.push_back(a);
    if (admitted.empty()) return {table_};
    // The batch's islands: per session key and group (as text), its records by time, a new one
    // wherever a record is not within the gap of the one before. Keys equal as their type but
    // not as text ("1.0", "1") make islands of their own, which step 4 merges as it merges
    // stored sessions: an island only needs to be part of one session.
    auto key_of = [&operator_fold](const Admitted& a) { return operator_fold.key(a); };
    std::vector<std::vector<std::string>> island_keys(1 + groups_.size());
    std::vector<std::string> lows, highs;
    struct Island {
        std::size_t b, e;  ///< its records: admitted[b, e)
        std::vector<std::string_view> key;  ///< its key's parts (key_parts)
    };
    std::vector<Island> islands;
    for (std::size_t b = 0, e = 1; b < admitted.size(); b = e++) {
        const std::string_view key = key_of(admitted[b]);
        while (e < admitted.size() && key_of(admitted[e]) == key && admitted[e].t - admitted[e - 1].t < window_.window.gap_us) ++e;
        const Island& island = islands.emplace_back(Island{b, e, spec::session_key_parts(key)});
        for (std::size_t k = 0; k < island.key.size(); ++k) island_keys[k].emplace_back(island.key[k]);
        lows.push_back(std::to_string(admitted[b].t)), highs.push_back(std::to_string(admitted[e - 1].t));
    }
    std::vector<std::string> params;
    for (const auto& k : island_keys) params.push_back(text_array(k));
    params.push_back(text_array(lows)), params.push_back(text_array(highs));
    const PgResult locked = conn_.exec_params(lock_sql_, params);
    const std::int64_t met = PQntuples(locked.get()) ? std::atoll(PQgetvalue(locked.get(), 0, 1)) : 0;
    // Without the copy, every island is staged; with it, those meeting a stored session only.
    std::vector<bool> staged(islands.size(), !copies_new_sessions());
    for (int row = 0; row < PQntuples(locked.get()); ++row) staged.at(static_cast<std::size_t>(std::atoll(PQgetvalue(locked.get(), row, 0)) - 1)) = true;
    // Folds the islands whose `staged` is `which` and hands each to `write` (into copy_); returns how many.
    auto write_islands = [&](bool which, auto&& write) {
        copy_.reset();
        std::int64_t written = 0;
        for (std::size_t i = 0; i < islands.size(); ++i) {
            if (staged[i] != which) continue;
            const Island& island = islands[i];
            write(i, island.key, fold_island(batch, &admitted[island.b], &admitted[island.e - 1] + 1), admitted[island.b].t, admitted[island.e - 1].t);
            ++written;
        }
        return written;
    };
    engine::TableRows rows{table_};
    if (write_islands(true, [&](std::size_t i, const auto& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi) {
            stage_island(key, fold, lo, hi, static_cast<std::int32_t>(i));
        }) > 0) {
        conn_.copy_in("COPY " + stage_table_ + " FROM STDIN (FORMAT binary)", copy_.finish());
        rows = upserted_rows(table_, conn_.exec(merge_sql_));
        // Every session met grew (it meets a record): kept under its start (updated) or merged
        // into an earlier one (deleted).
        rows.deleted = met - rows.updated;
    }
    if (!copies_new_sessions()) return rows;
    const std::int64_t copied = write_islands(false, [&](std::size_t, const auto& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi) {
        copy_session(key, fold, lo, hi);
    });
    // Sessions new to the table: no stored row has their key and start (the lock found none they meet).
    if (copied > 0) conn_.copy_in(copy_sql_, copy_.finish());
    rows.inserted += copied;
    return rows;
}

}  // namespace starstream::daemon::postgres
