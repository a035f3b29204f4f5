#include "sink/postgres/spec_window_writer.h"

#include "sink/postgres/progress_store.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/spec_first_last.h"
#include "sink/postgres/spec_late_events.h"
#include "sink/postgres/spec_session_writer.h"
#include "sink/postgres/spec_window_cells.h"
#include "sink/postgres/stage_fold.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/value_text.h"
#include "sink/postgres/batch_writer.h"
#include "sink/postgres/window_lock.h"
#include "spec/table_schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace starstream::daemon::postgres {

using spec::input_view;

namespace {

using spec::AggregateFunction;
using spec::SpecRow;

bool first_or_last(AggregateFunction f) { return f == AggregateFunction::first || f == AggregateFunction::last; }

engine::LatePolicy late_policy(spec::LatePolicy p) {
    switch (p) {
        case spec::LatePolicy::drop: return engine::LatePolicy::drop;
        case spec::LatePolicy::dead_letter: return engine::LatePolicy::dead_letter;
        case spec::LatePolicy::correct: return engine::LatePolicy::correct;
    }
    return engine::LatePolicy::drop;
}

/// "a, b, c" with each item formatted by `f`.
template <typename Items, typename F>
std::string each(const Items& items, F&& f, const char* separator = ", ") {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < items.size(); ++i) out.push_back(f(items[i], i));
    return fmt::format("{}", fmt::join(out, separator));
}


/// A column an aggregate writes (its value, or one of its state columns) and how: `partial`, the
/// batch's part computed from the staged rows ("" when the value is derived: avg's, or
/// count_distinct's from its new members); `value`, what a new row gets (from the batch's row
/// b); `update`, the merge with the stored row t (every SET expression reads t before the update).
struct AggregateColumn {
    std::string column, partial, value, update;
};

/// t's value plus the batch's: NULL (a sum of nothing, or a column added after the row) adds nothing.
std::string added(const std::string& c) {
    return fmt::format("{0} = CASE WHEN t.{0} IS NULL THEN excluded.{0} WHEN excluded.{0} IS NULL THEN t.{0} ELSE t.{0} + excluded.{0} END", c);
}

/// first and last: the value and event time of the record that wins by the tie rule of
/// spec_first_last.h (every record passing the aggregate's filter, its value NULL or not), in
/// the batch and then against the stored one.
std::vector<AggregateColumn> ordered_columns(const SpecWindowWriter::Table::Aggregate& a, std::size_t i) {
    const bool first = a.function == AggregateFunction::first;
    const std::string c = sql_identifier(a.column), time = sql_identifier(a.state[0]);
    const std::string in = fmt::format("a{}::{}", i, a.type), staged_time = fmt::format("ft{}", i);
    const std::string pick = fmt::format("(array_agg({0} ORDER BY {1}{2}, {3}) FILTER (WHERE {1} IS NOT NULL))[1]", in, staged_time,
                                         first ? "" : " DESC", first_last_tie_order(a.function, in, a.type));
    const std::string wins = first_last_wins(a.function, "excluded." + time, "excluded." + c, "t." + time, "t." + c, a.type);
    auto column = [&](const std::string& name, const std::string& partial, std::size_t k) {
        return AggregateColumn{name, partial, fmt::format("b.p{}_{}", i, k), fmt::format("{0} = CASE WHEN {1} THEN excluded.{0} ELSE t.{0} END", name, wins)};
    };
    return {column(c, pick, 0), column(time, fmt::format("{}({})", first ? "min" : "max", staged_time), 1)};
}

std::vector<AggregateColumn> aggregate_columns(const SpecWindowWriter::Table::Aggregate& a, std::size_t i) {
    const std::string c = sql_identifier(a.column), in = fmt::format("a{}", i), b = fmt::format("b.p{}_0", i);
    switch (a.function) {
        case AggregateFunction::count: return {{c, "count(" + in + ")", b, added(c)}};
        case AggregateFunction::sum: return {{c, fmt::format("sum({}::{})", in, a.type), b, added(c)}};
        case AggregateFunction::min: return {{c, fmt::format("min({}::{})", in, a.type), b, fmt::format("{0} = least(t.{0}, excluded.{0})", c)}};
        case AggregateFunction::max: return {{c, fmt::format("max({}::{})", in, a.type), b, fmt::format("{0} = greatest(t.{0}, excluded.{0})", c)}};
        case AggregateFunction::count_distinct: return {{c, "", fmt::format("coalesce(c{}.n, 0)", i), added(c)}};
        case AggregateFunction::any:  // every staged row is a counted record: false when none passed the filter
            return {{c, fmt::format("bool_or({} IS NOT NULL)", in), b, fmt::format("{0} = coalesce(t.{0}, false) OR excluded.{0}", c)}};
        case AggregateFunction::avg: {
            // The value is derived from the merged sum and count (NULL while the count is 0).
            const std::string sum = sql_identifier(a.state[0]), n = sql_identifier(a.state[1]);
            return {{c, "", fmt::format("b.p{0}_1::{1} / nullif(b.p{0}_2, 0)", i, a.value_type),
                     fmt::format("{0} = (coalesce(t.{1}, 0) + coalesce(excluded.{1}, 0))::{3} / nullif(coalesce(t.{2}, 0) + coalesce(excluded.{2}, 0), 0)",
                                 c, sum, n, a.value_type)},
                    {sum, fmt::format("sum({}::{})", in, a.type), fmt::format("b.p{}_1", i), added(sum)},
                    {n, "count(" + in + ")", fmt::format("b.p{}_2", i), added(n)}};
        }
        case AggregateFunction::first:
        case AggregateFunction::last: return ordered_columns(a, i);
        case AggregateFunction::mode: break;  // merge_sql: from its occurrence table
    }
    return {};
}

/// The key of a window table's row, as staged (stage) and as stored (table): the bounds that name
/// a window (the start; a cumulative window's end too; none in a global window), then the groups.
struct RowKey {
    std::vector<std::string> stage, table, typed_stage;  ///< typed_stage: "g0::bigint AS g0"...
    std::string not_null;                               ///< " AND g0 IS NOT NULL..."
};

RowKey row_key(const SpecWindowWriter::Table& t) {
    RowKey k;
    if (!t.global) k.stage.push_back("window_start"), k.table.push_back(sql_identifier(t.start_column));
    if (t.cumulative) k.stage.push_back("window_end"), k.table.push_back(sql_identifier(t.end_column));
    k.typed_stage = k.stage;
    for (std::size_t i = 0; i < t.groups.size(); ++i) {
        k.stage.push_back(fmt::format("g{}", i)), k.table.push_back(sql_identifier(t.groups[i].column));
        k.typed_stage.push_back(fmt::format("g{0}::{1} AS g{0}", i, t.groups[i].type));
        k.not_null += fmt::format(" AND g{} IS NOT NULL", i);
    }
    return k;
}

/// mode: the statement adding the batch's occurrences of each non-empty value to the
/// aggregate's occurrence table, run before merge_sql (which reads the merged counts).
std::string mode_count_sql(const SpecWindowWriter::Table& t, const SpecWindowWriter::Table::Aggregate& a, std::size_t i) {
    const RowKey k = row_key(t);
    std::vector<std::string> positions;
    for (std::size_t p = 1; p <= k.stage.size() + 1; ++p) positions.push_back(std::to_string(p));
    return fmt::format(
        "INSERT INTO {0} AS m ({1}, value, occurrences)\nSELECT {2}, a{3}::{4}, count(*) FROM {5} WHERE a{3} IS NOT NULL AND a{3} <> ''{6}"
        " GROUP BY {7} ORDER BY {7}\nON CONFLICT ({1}, value) DO UPDATE SET occurrences = m.occurrences + excluded.occurrences",
        sql_identifier(a.members), fmt::join(k.table, ", "), fmt::join(k.typed_stage, ", "), i, a.type, t.stage_table, k.not_null,
        fmt::join(positions, ", "));
}

/// mode: its value for the batch's row b, from the merged occurrence table: the most frequent
/// value, a tie going to the smallest (text in byte order).
std::string mode_value(const SpecWindowWriter::Table& t, const SpecWindowWriter::Table::Aggregate& a) {
    const RowKey k = row_key(t);
    std::string match;
    for (std::size_t c = 0; c < k.table.size(); ++c) match += fmt::format("{}m.{} = b.{}", c ? " AND " : "", k.table[c], k.stage[c]);
    return fmt::format("(SELECT m.value FROM {} m WHERE {} ORDER BY m.occurrences DESC, m.value{} LIMIT 1)", sql_identifier(a.members), match,
                       a.type == "text" ? " COLLATE \"C\"" : "");
}

/// The statement merging the staged rows of `t` (see the header, steps 3 and 4).
std::string merge_sql(const SpecWindowWriter::Table& t) {
    using Aggregate = SpecWindowWriter::Table::Aggregate;
    const RowKey k = row_key(t);
    // The batch CTE keeps both bounds of a windowed table (the end is stored), none of a global one.
    const std::vector<std::string> bounds = t.global ? std::vector<std::string>{} : std::vector<std::string>{"window_start", "window_end"};
    std::vector<std::string> batch_columns = bounds, inserted = bounds, stored, order;
    if (!t.global) stored = {sql_identifier(t.start_column), sql_identifier(t.end_column)};
    for (auto& b : inserted) b = "b." + b;
    for (const auto& s : k.stage) order.push_back("b." + s);
    for (std::size_t i = 0; i < t.groups.size(); ++i)
        batch_columns.push_back(fmt::format("g{0}::{1} AS g{0}", i, t.groups[i].type)), inserted.push_back(fmt::format("b.g{}", i)),
            stored.push_back(sql_identifier(t.groups[i].column));
    // Grouped as their type, not as staged text: "1.0" and "1" of a numeric key are one group
    // (two would upsert one window row twice, which PostgreSQL refuses for the whole statement).
    std::vector<std::string> grouped = bounds;
    for (std::size_t i = 0; i < t.groups.size(); ++i) grouped.push_back(fmt::format("g{0}::{1}", i, t.groups[i].type));
    std::string with;
    for (std::size_t i = 0; i < t.aggregates.size(); ++i) {
        const Aggregate& a = t.aggregates[i];
        if (a.function != AggregateFunction::count_distinct) continue;
        with += fmt::format(
            "new{0} AS (INSERT INTO {1} ({2}, member) SELECT DISTINCT {3}, a{0}::{4} FROM {5} WHERE a{0} IS NOT NULL{6}"
            " ON CONFLICT DO NOTHING RETURNING {2}),\n"
            "count{0} AS (SELECT {2}, count(*) AS n FROM new{0} GROUP BY {2}),\n",
            i, sql_identifier(a.members), fmt::join(k.table, ", "), fmt::join(k.typed_stage, ", "), a.type, t.stage_table, k.not_null);
    }
    std::vector<std::string> partials, columns, values, updates;
    for (std::size_t i = 0; i < t.aggregates.size(); ++i) {
        const Aggregate& a = t.aggregates[i];
        if (a.function == AggregateFunction::mode) {  // derived from the merged occurrences (mode_count_sql ran first)
            const std::string c = sql_identifier(a.column);
            columns.push_back(c), values.push_back(mode_value(t, a)), updates.push_back(fmt::format("{0} = excluded.{0}", c));
            continue;
        }
        const auto written = aggregate_columns(a, i);
        for (std::size_t w = 0; w < written.size(); ++w) {
            if (!written[w].partial.empty()) partials.push_back(fmt::format("{} AS p{}_{}", written[w].partial, i, w));
            columns.push_back(written[w].column), values.push_back(written[w].value), updates.push_back(written[w].update);
        }
    }
    std::vector<std::string> selected = batch_columns;
    selected.insert(selected.end(), partials.begin(), partials.end());
    with += fmt::format("batch AS (SELECT {} FROM {} WHERE true{}{})\n", fmt::join(selected, ", "), t.stage_table, k.not_null,
                        grouped.empty() ? "" : fmt::format(" GROUP BY {}", fmt::join(grouped, ", ")));
    std::string joins;
    for (std::size_t i = 0; i < t.aggregates.size(); ++i) {
        if (t.aggregates[i].function != AggregateFunction::count_distinct) continue;
        std::string on;
        for (std::size_t c = 0; c < k.table.size(); ++c) on += fmt::format("{}c{}.{} = b.{}", c ? " AND " : "", i, k.table[c], k.stage[c]);
        joins += fmt::format(" LEFT JOIN count{0} c{0} ON {1}", i, on);
    }
    stored.insert(stored.end(), columns.begin(), columns.end());
    inserted.insert(inserted.end(), values.begin(), values.end());
    return fmt::format("WITH {}INSERT INTO {} AS t ({})\nSELECT {} FROM batch b{}\nORDER BY {}\n"
                       "ON CONFLICT ({}) DO UPDATE SET {}\nRETURNING xmax = 0",
                       with, sql_identifier(t.name), fmt::join(stored, ", "), fmt::join(inserted, ", "), joins, fmt::join(order, ", "),
                       fmt::join(k.table, ", "), fmt::join(updates, ", "));
}

/// The statement deleting from `state_table` (a member or occurrence table of `t`) the rows of
/// the windows that end at or before $1, Unix microseconds. Tumbling and hopping rows are named by
/// their start (end = start + size); a cumulative row also by its end. The start bound lets the
/// primary key's leading column find them.
std::string prune_sql(const SpecWindowWriter::Table& t, const std::string& state_table) {
    const std::string start = sql_identifier(t.start_column), horizon = "'epoch'::timestamptz + $1::bigint * interval '1 microsecond'";
    if (t.cumulative)
        return fmt::format("DELETE FROM {0} WHERE {1} < {2} AND {3} <= {2}", sql_identifier(state_table), start, horizon, sql_identifier(t.end_column));
    return fmt::format("DELETE FROM {} WHERE {} <= {} - interval '{} microseconds'", sql_identifier(state_table), start, horizon, t.spec.window.size_us);
}

/// The greatest window end on `t`'s grid (a multiple of its slide, or of its size when tumbling)
/// that no record can reach any more at `watermark_us`: a record's window takes it only while
/// the window's end, plus the allowed lateness (0 unless the policy is correct: the spec reader's
/// rule), is after the watermark (engine judge_lateness, and merge's skip of a correction's
/// final windows). INT64_MIN for none: no watermark yet, or a global table (its one window never
/// ends).
std::int64_t final_horizon(const SpecWindowWriter::Table& t, std::int64_t watermark_us) {
    if (t.global || watermark_us == INT64_MIN) return INT64_MIN;
    const engine::WindowSpec& w = t.spec.window;
    const std::int64_t step = w.kind == engine::WindowKind::tumbling ? w.size_us : w.slide_us;
    return engine::floor_div(watermark_us - t.spec.allowed_lateness_us, step) * step;
}

}  // namespace

std::string SpecWindowWriter::unsupported(const spec::WindowTableSpec& w) {
    if (w.kind == spec::WindowKind::session) return SpecSessionWriter::unsupported(w);
    return {};
}

SpecWindowWriter::SpecWindowWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec,
                                   const spec::ReferenceLayout& layout, const std::vector<std::string>& dimensions)
    : conn_(conn), copy_(copy), pipeline_(spec.name), topics_(text_array(spec.topics)), filters_(spec, layout) {
    const auto schemas = spec::table_schemas(spec);  // the aggregates' column types
    const auto folded = spec::folded_windows(spec, layout, filters_);
    for (const auto& w : spec.windows) {
        if (w.kind == spec::WindowKind::session) {
            sessions_.push_back(std::make_unique<SpecSessionWriter>(conn_, copy_, spec, layout, w, filters_));
            continue;
        }
        auto t = std::make_unique<Table>();
        t->name = w.table;
        t->stage_table = temp_table_name("stage_spec", w.table);
        t->spec = {spec::engine_window(w), late_policy(w.late), w.allowed_lateness_us};
        t->cumulative = w.kind == spec::WindowKind::cumulative;
        t->global = w.kind == spec::WindowKind::global;
        t->start_column = w.start_column, t->end_column = w.end_column;
        t->where = filters_.number(w.where);
        for (const auto& f : folded)
            if (f.table == w.table) t->folded = std::make_shared<const spec::FoldedWindow>(f);
        for (const auto& g : w.group_by) {
            const auto dim = std::find(dimensions.begin(), dimensions.end(), g);
            if (dim != dimensions.end())
                t->groups.push_back({spec::surrogate_key_column(g), "bigint", static_cast<std::size_t>(dim - dimensions.begin()), true});
            else
                t->groups.push_back({spec::column_name_of(g), spec::reference_type(spec, g), layout.at(g), false});
        }
        const auto schema = std::find_if(schemas.begin(), schemas.end(), [&](const spec::TableSchema& s) { return s.table == w.table; });
        for (const auto& a : w.aggregates) {
            Table::Aggregate agg{a.column, a.function, std::nullopt, "bigint", filters_.number(a.where), {}, spec::aggregate_state_columns(w, a), {}};
            if (!a.of.empty()) agg.input = layout.at(a.of), agg.type = spec::reference_type(spec, a.of);
            if (a.function == AggregateFunction::count_distinct) agg.members = spec::distinct_member_table(w, a);
            if (a.function == AggregateFunction::mode) agg.members = spec::mode_count_table(w, a);
            for (const auto& c : schema->columns)
                if (c.name == a.column) agg.value_type = c.type;
            t->aggregates.push_back(std::move(agg));
        }
        t->staged_fields = 2 + t->groups.size() + t->aggregates.size() +
                           std::count_if(t->aggregates.begin(), t->aggregates.end(), [](const auto& a) { return first_or_last(a.function); });
        conn_.exec(fmt::format("CREATE TEMP TABLE {} (window_start timestamptz, window_end timestamptz{}{}) ON COMMIT DELETE ROWS", t->stage_table,
                               // A dimension's surrogate key is staged as bigint (no text round trip), other groups as text.
                               each(t->groups, [](const auto& g, std::size_t i) { return fmt::format(", g{} {}", i, g.dimension ? "bigint" : "text"); }, ""),
                               each(t->aggregates, [](const auto& a, std::size_t i) {
                                   return fmt::format(", a{0} text{1}", i, first_or_last(a.function) ? fmt::format(", ft{} timestamptz", i) : "");
                               }, "")));
        t->merge_sql = merge_sql(*t);
        for (std::size_t i = 0; i < t->aggregates.size(); ++i)
            if (t->aggregates[i].function == AggregateFunction::mode) t->mode_sql.push_back(mode_count_sql(*t, t->aggregates[i], i));
        for (const auto& a : t->aggregates)
            if (!a.members.empty() && !t->global) t->prune_sql.push_back(prune_sql(*t, a.members));
        spdlog::debug("window merge of {}: {}", t->name, t->merge_sql);
        if (const std::string why = SpecWindowCells::ineligible(conn_, *t); why.empty() && t->folded && t->folded->counting)
            t->cells = std::make_unique<SpecWindowCells>(conn_, copy_, *t);
        else
            spdlog::debug("{}: every cell through the merge statement ({})", t->name, why);
        tables_.push_back(std::move(t));
    }
    if (!empty()) SpecLateEvents::create_staging(conn_);
}

SpecWindowTable::SpecWindowTable() = default;
SpecWindowTable::~SpecWindowTable() = default;

SpecWindowWriter::~SpecWindowWriter() = default;

engine::TableRows SpecWindowWriter::merge(const Table& t, const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                          const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& counted,
                                          const TopicsWatermark& watermark, SpecWindowOutcome& outcome) {
    const std::int64_t watermark_us = watermark.judged_us;
    engine::LateRecords late{t.name, {}};
    SpecLateEvents late_events;
    std::vector<WindowContribution> contributions;  // what the transaction keeps of the fold's
    std::optional<spec::WindowFold> own;
    const spec::WindowFold* fold =
        t.global ? nullptr : &fold_for_write(batch.window_folds, t.folded, t.folded->dimensions(), batch, begin, end, keys, filters_, own);
    spec::WindowFold::Tally tally = t.cells ? fold->tally() : spec::WindowFold::Tally{};
    std::vector<spec::WindowFold::Contribution> windows;
    for (std::size_t r = begin; r < end; ++r) {
        const SpecRow& row = batch.rows[r];
        if (t.global) {  // never late: no bounds, one row per group
            if (counted[r] && filters_.passes(t.where, row)) contributions.push_back({r, {}});
            continue;
        }
        fold->contributions(r, row, filters_, windows);  // none: it fails the table's filter
        if (windows.empty()) continue;
        // What the fold counted and the transaction excludes: a record whose fact is not new, a
        // late one, a correction's final windows.
        auto exclude = [&](std::size_t k) {
            if (t.cells && windows[k].cell != spec::WindowFold::kNoCell) fold->subtract(tally, row, windows[k].cell, filters_);
        };
        auto exclude_all = [&] {
            for (std::size_t k = 0; k < windows.size(); ++k) exclude(k);
        };
        if (!counted[r]) {
            exclude_all();
            continue;
        }
        switch (engine::judge_lateness(t.spec, row.event_time_us, watermark_us)) {
            case engine::LateVerdict::on_time: break;
            case engine::LateVerdict::corrected: ++late.by_policy[2]; break;
            case engine::LateVerdict::dropped: ++late.by_policy[0], exclude_all(); continue;
            case engine::LateVerdict::dead_lettered: {
                ++late.by_policy[1], exclude_all();
                late_events.add(t.name, batch, row, engine::first_window(t.spec.window, row.event_time_us), watermark_us);
                continue;
            }
        }
        for (std::size_t k = 0; k < windows.size(); ++k) {
            // A correction reaches only the windows still within allowed lateness (of a hopping or
            // cumulative record, the earlier ones may have ended long enough ago to be final).
            if (row.event_time_us < watermark_us && windows[k].window.end_us + t.spec.allowed_lateness_us <= watermark_us) {
                exclude(k);
                continue;
            }
            if (windows[k].cell == spec::WindowFold::kNoCell && fold->window().counting) continue;  // a NULL group: counted nowhere
            contributions.push_back({r, windows[k].window, windows[k].cell});
        }
    }
    outcome.late.push_back(late);
    late_events.insert(conn_);
    engine::TableRows rows{t.name};
    if (t.cells && !contributions.empty()) {  // new cells copied straight in; the stored ones merged below
        const SpecWindowCells::Written written = t.cells->write(batch, *fold, tally, final_horizon(t, watermark.after_commit_us));
        rows.inserted = written.inserted;
        std::erase_if(contributions, [&](const WindowContribution& c) { return c.cell == spec::WindowFold::kNoCell || !written.stored[c.cell]; });
    }
    if (contributions.empty()) return rows;
    copy_.reset();
    for (const WindowContribution& c : contributions)
        stage(t, batch.rows[c.row], c.row - begin, keys, t.global ? std::nullopt : std::optional<engine::Window>(c.window));
    conn_.copy_in("COPY " + t.stage_table + " FROM STDIN (FORMAT binary)", copy_.finish());
    for (const auto& sql : t.mode_sql) conn_.exec(sql);
    const engine::TableRows merged = upserted_rows(t.name, conn_.exec(t.merge_sql));
    rows.inserted += merged.inserted, rows.updated += merged.updated;
    return rows;
}

void SpecWindowWriter::stage(const Table& t, const SpecRow& row, std::size_t at, const std::vector<std::vector<std::int64_t>>& keys,
                             const std::optional<engine::Window>& w) {
    std::string buffer;
    copy_.begin_row(static_cast<std::int16_t>(t.staged_fields));
    if (w) {
        copy_.timestamptz_us(w->start_us), copy_.timestamptz_us(w->end_us);
    } else {
        copy_.null(), copy_.null();
    }
    for (const auto& g : t.groups) {
        if (g.dimension) {
            const std::int64_t key = keys[g.index][at];
            key == INT64_MIN ? copy_.null() : copy_.int8(key);
        } else if (auto v = input_view(row.values[g.index], g.type, buffer)) {
            copy_.text(*v);
        } else {
            copy_.null();
        }
    }
    for (const auto& a : t.aggregates) {
        const bool passes = filters_.passes(a.where, row);
        if (!passes) {
            copy_.null();
        } else if (!a.input) {
            copy_.text("1");
        } else if (auto v = input_view(row.values[*a.input], a.type, buffer)) {
            copy_.text(*v);
        } else {
            copy_.null();
        }
        if (first_or_last(a.function)) passes ? copy_.timestamptz_us(row.event_time_us) : copy_.null();
    }
}

void SpecWindowWriter::prune(Table& t, std::int64_t watermark_us) {
    // A final window's row never changes again, so the distinct values and occurrences that
    // merges compare with are dead weight: without this, its member tables grow with every window
    // for good. The horizon moves by whole steps, so most batches skip the DELETE. (Should the
    // batch roll back, the next horizon's DELETE takes these rows too: it deletes `<=`.)
    const std::int64_t horizon = final_horizon(t, watermark_us);
    if (horizon <= t.pruned_through_us) return;
    t.pruned_through_us = horizon;
    for (const auto& sql : t.prune_sql) {
        const PgResult r = conn_.exec_params(sql, {std::to_string(horizon)});
        spdlog::debug("{}: deleted {} rows of windows final at {} us", t.name, PQcmdTuples(r.get()), horizon);
    }
}

SpecWindowWriter::TopicsWatermark SpecWindowWriter::topics_watermark(const engine::MicroBatch& batch) {
    // The spec's own topics, not every topic of the database (starstream.window_watermark): a
    // pipeline added later, or a quiet one, neither makes this one's records late nor holds its
    // windows back. Unknown while a partition has no watermark yet; then the floor holds.
    // The watermark after commit takes the batch's checkpoint in as BatchLedger::update_progress
    // will in this transaction (greatest; a partition of another epoch fences the batch, so it
    // never commits), and the floor is raised to it now: no later batch of any instance judges
    // against less, even when a partition without a watermark appears in between.
    std::vector<std::string> topics, partitions, watermarks;
    for (const auto& [tp, position] : batch.checkpoint) {
        topics.push_back(tp.topic);
        partitions.push_back(std::to_string(tp.partition));
        watermarks.push_back(position.watermark_us == engine::PartitionPosition{}.watermark_us ? "" : std::to_string(position.watermark_us));
    }
    PgResult r = conn_.exec_params(
        "WITH marks AS (SELECT p.watermark AS before, greatest(p.watermark, 'epoch'::timestamptz + nullif(b.w, '')::bigint * interval '1 microsecond') AS after"
        " FROM starstream.progress p LEFT JOIN unnest($3::text[], $4::int[], $5::text[]) AS b(t, n, w) ON b.t = p.topic AND b.n = p.partition"
        " WHERE p.topic = ANY($1::text[])),\n"
        "topics AS (SELECT CASE WHEN count(*) = count(before) THEN min(before) END AS before,"
        " CASE WHEN count(*) = count(after) THEN min(after) END AS after FROM marks),\n"
        "floor AS (SELECT (SELECT watermark FROM starstream.pipeline_watermark WHERE pipeline = $2) AS w),\n"
        "raised AS (INSERT INTO starstream.pipeline_watermark AS p (pipeline, watermark) SELECT $2, after FROM topics WHERE after IS NOT NULL"
        " ON CONFLICT (pipeline) DO UPDATE SET watermark = excluded.watermark WHERE p.watermark < excluded.watermark)\n"
        "SELECT (extract(epoch FROM greatest(before, w)) * 1000000)::bigint, (extract(epoch FROM greatest(after, w)) * 1000000)::bigint"
        " FROM topics, floor",
        {topics_, pipeline_, text_array(topics), text_array(partitions), text_array(watermarks)});
    auto us = [&](int column) { return PQgetisnull(r.get(), 0, column) ? INT64_MIN : std::atoll(PQgetvalue(r.get(), 0, column)); };
    return {us(0), us(1)};
}

SpecWindowOutcome SpecWindowWriter::write(const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                          const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& counted) {
    SpecWindowOutcome outcome;
    if (empty()) return outcome;
    // Under the window lock: what other instances merged is visible, and none merges meanwhile.
    outcome.database_watermark_us = lock_windows_and_read_watermark(conn_);
    const TopicsWatermark watermark = topics_watermark(batch);
    outcome.watermark_us = watermark.judged_us;
    spdlog::debug("windows of {}: lateness judged at watermark {} us, {} us once the batch commits", pipeline_, watermark.judged_us,
                  watermark.after_commit_us);
    for (const auto& t : tables_) {
        outcome.tables.push_back(merge(*t, batch, begin, end, keys, counted, watermark, outcome));
        prune(*t, outcome.watermark_us);
    }
    for (const auto& s : sessions_) {
        engine::LateRecords late;
        outcome.tables.push_back(s->merge(batch, begin, end, keys, counted, outcome.watermark_us, late));
        outcome.late.push_back(late);
    }
    return outcome;
}

}  // namespace starstream::daemon::postgres
