#include "sink/postgres/spec_window_cells.h"

#include "sink/postgres/bisection.h"  // unique_violation
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/table_columns.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/value_text.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <string_view>
#include <unordered_map>

namespace starstream::daemon::postgres {

namespace {

using spec::AggregateFunction;
constexpr std::uint32_t kNoCell = UINT32_MAX;
const std::string kText = "text";

/// The row key's columns of `t` as its table and member tables name them: the start, the end
/// when it is part of the key (cumulative) or `with_end`, then the groups.
std::vector<std::string> key_columns(const SpecWindowTable& t, bool with_end) {
    std::vector<std::string> out{sql_identifier(t.start_column)};
    if (with_end || t.cumulative) out.push_back(sql_identifier(t.end_column));
    for (const auto& g : t.groups) out.push_back(sql_identifier(g.column));
    return out;
}

/// "a.x = b.y AND ..." over the row key: `a`'s columns named as the table's, `b`'s as the
/// probe's staging table's (window_start, window_end, g0...) or, `b_as_table`, as the table's.
std::string key_match(const SpecWindowTable& t, const std::string& a, const std::string& b, bool b_as_table) {
    const std::vector<std::string> table = key_columns(t, false);
    std::vector<std::string> staged{"window_start"};
    if (t.cumulative) staged.push_back("window_end");
    for (std::size_t i = 0; i < t.groups.size(); ++i) staged.push_back(fmt::format("g{}", i));
    std::vector<std::string> terms;
    for (std::size_t i = 0; i < table.size(); ++i) terms.push_back(fmt::format("{0}.{1} = {2}.{3}", a, table[i], b, b_as_table ? table[i] : staged[i]));
    return fmt::format("{}", fmt::join(terms, " AND "));
}

}  // namespace

struct SpecWindowCells::Fold {
    struct Cell {
        engine::Window window;
        std::size_t row = 0;  ///< the first contribution's row, whose groups name the cell
    };
    std::vector<Cell> cells;
    std::vector<std::int64_t> counts;  ///< [cell * aggregates + a]: a count, or count_distinct's distinct members
    struct Member {
        std::uint32_t aggregate = 0, cell = 0;
        std::string_view value;
        auto operator<=>(const Member&) const = default;
    };
    std::vector<Member> members;      ///< sorted, each once
    std::deque<std::string> owned;    ///< member texts formatted here, not views of the batch (stable addresses)
    std::vector<std::uint32_t> cell_of;  ///< per contribution; kNoCell: a NULL group
};

std::string SpecWindowCells::ineligible(PgConnection& conn, const SpecWindowTable& t) {
    if (t.global) return "a global window's cells are nearly always stored";
    const auto table = database_columns(conn, sql_identifier(t.name));
    if (!column_is(table, t.start_column, "timestamp with time zone") || !column_is(table, t.end_column, "timestamp with time zone"))
        return "its bounds are not timestamptz";
    for (const auto& g : t.groups) {
        if (!g.dimension && g.type != kText) return fmt::format("group {} is of type {}", g.column, g.type);
        if (!column_is(table, g.column, g.dimension ? "bigint" : kText)) return fmt::format("group column {} is not bigint or bytewise text", g.column);
    }
    for (const auto& a : t.aggregates) {
        if (a.function != AggregateFunction::count && a.function != AggregateFunction::count_distinct)
            return fmt::format("aggregate {} neither counts nor counts distinct values", a.column);
        if (!column_is(table, a.column, "bigint")) return fmt::format("aggregate column {} is not bigint", a.column);
        if (a.function != AggregateFunction::count_distinct) continue;
        if (!a.input || a.type != kText) return fmt::format("aggregate {} counts distinct values of type {}", a.column, a.type);
        const auto members = database_columns(conn, sql_identifier(a.members));
        if (!column_is(members, "member", kText)) return fmt::format("the members of {} are not bytewise text", a.column);
        // The orphans' DELETE compares the member table's group columns with the window table's:
        // two different non-default collations would leave the comparison's undetermined (42P22).
        // (The probe's staged groups take the database default, which yields to any other.)
        for (const auto& g : t.groups)
            if (!g.dimension && (!members.count(g.column) || members.at(g.column).collation != table.at(g.column).collation))
                return fmt::format("group column {} of {} has another collation than in {}", g.column, a.members, t.name);
    }
    return {};
}

SpecWindowCells::SpecWindowCells(PgConnection& conn, BinaryCopyWriter& copy, const SpecWindowTable& t, const spec::RecordFilters& filters)
    : conn_(conn), copy_(copy), t_(t), filters_(filters), cells_table_(temp_table_name("stage_spec", t.name, "cells")) {
    std::string groups;
    for (std::size_t i = 0; i < t.groups.size(); ++i) groups += fmt::format(", g{} {}", i, t.groups[i].dimension ? "bigint" : kText);
    conn_.exec(fmt::format("CREATE TEMP TABLE {} (n integer, window_start timestamptz, window_end timestamptz{}) ON COMMIT DELETE ROWS",
                           cells_table_, groups));
    const std::string table = sql_identifier(t.name);
    // One index probe per cell (LATERAL ... LIMIT 1): a hash join would read the whole table,
    // which only grows.
    probe_sql_ = fmt::format("SELECT c.n FROM {} c CROSS JOIN LATERAL (SELECT 1 FROM {} t WHERE {} LIMIT 1) held", cells_table_, table,
                             key_match(t, "t", "c", false));
    std::vector<std::string> columns = key_columns(t, true);
    for (const auto& a : t.aggregates) columns.push_back(sql_identifier(a.column));
    copy_cells_sql_ = fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", table, fmt::join(columns, ", "));
    for (const auto& a : t.aggregates) {
        if (a.function != AggregateFunction::count_distinct) continue;
        const std::string members = sql_identifier(a.members);
        copy_members_sql_.push_back(fmt::format("COPY {} ({}, member) FROM STDIN (FORMAT binary)", members, fmt::join(key_columns(t, false), ", ")));
        orphans_sql_.push_back(fmt::format("DELETE FROM {0} m USING {1} c WHERE {2} AND NOT EXISTS (SELECT 1 FROM {3} t WHERE {4})", members,
                                           cells_table_, key_match(t, "m", "c", false), table, key_match(t, "t", "m", true)));
    }
}

void SpecWindowCells::copy_key(const Fold& f, std::size_t c, bool member_key, const spec::SpecBatch& batch, std::size_t begin,
                               const std::vector<std::vector<std::int64_t>>& keys) {
    const Fold::Cell& cell = f.cells[c];
    copy_.timestamptz_us(cell.window.start_us);
    if (!member_key || t_.cumulative) copy_.timestamptz_us(cell.window.end_us);
    std::string buffer;
    for (const auto& g : t_.groups) {
        if (g.dimension) {
            copy_.int8(keys[g.index][cell.row - begin]);
        } else {
            copy_.text(*spec::input_view(batch.rows[cell.row].values[g.index], kText, buffer));  // not NULL: the fold skipped those
        }
    }
}

void SpecWindowCells::copy_new(const Fold& f, const std::vector<bool>& stored, const spec::SpecBatch& batch, std::size_t begin,
                               const std::vector<std::vector<std::int64_t>>& keys) {
    const std::size_t n = t_.aggregates.size();
    copy_.reset();
    for (std::size_t c = 0; c < f.cells.size(); ++c) {
        if (stored[c]) continue;
        copy_.begin_row(static_cast<std::int16_t>(2 + t_.groups.size() + n));
        copy_key(f, c, false, batch, begin, keys);
        for (std::size_t a = 0; a < n; ++a) copy_.int8(f.counts[c * n + a]);
    }
    conn_.copy_in(copy_cells_sql_, copy_.finish());
    const std::int16_t member_fields = static_cast<std::int16_t>(1 + (t_.cumulative ? 1 : 0) + t_.groups.size() + 1);
    std::size_t m = 0, distinct = 0;
    for (std::size_t a = 0; a < n; ++a) {
        if (t_.aggregates[a].function != AggregateFunction::count_distinct) continue;
        copy_.reset();
        for (; m < f.members.size() && f.members[m].aggregate == a; ++m) {
            if (stored[f.members[m].cell]) continue;
            copy_.begin_row(member_fields);
            copy_key(f, f.members[m].cell, true, batch, begin, keys);
            copy_.text(f.members[m].value);
        }
        conn_.copy_in(copy_members_sql_[distinct++], copy_.finish());
    }
}

SpecWindowCells::Written SpecWindowCells::write(const spec::SpecBatch& batch, std::size_t begin, const std::vector<WindowContribution>& contributions,
                                                const std::vector<std::vector<std::int64_t>>& keys) {
    // 1. The fold: each cell named by its bytes (bounds, then each group: a key's 8 bytes, or a
    //    text's length and bytes), so that two cells never share a name.
    Fold f;
    const std::size_t n = t_.aggregates.size();
    std::unordered_map<std::string, std::uint32_t> index;
    std::string name, buffer;
    f.cell_of.reserve(contributions.size());
    for (const WindowContribution& contribution : contributions) {
        const spec::SpecRow& row = batch.rows[contribution.row];
        name.assign(reinterpret_cast<const char*>(&contribution.window), sizeof contribution.window);
        bool null_group = false;
        for (const auto& g : t_.groups) {
            if (g.dimension) {
                const std::int64_t key = keys[g.index][contribution.row - begin];
                null_group = null_group || key == INT64_MIN;
                name.append(reinterpret_cast<const char*>(&key), sizeof key);
            } else if (const auto v = spec::input_view(row.values[g.index], kText, buffer)) {
                const auto size = static_cast<std::uint32_t>(v->size());
                name.append(reinterpret_cast<const char*>(&size), sizeof size).append(*v);
            } else {
                null_group = true;
            }
        }
        if (null_group) {  // the merge statement's "g IS NOT NULL": counted nowhere
            f.cell_of.push_back(kNoCell);
            continue;
        }
        const auto [at, added] = index.try_emplace(name, static_cast<std::uint32_t>(f.cells.size()));
        if (added) f.cells.push_back({contribution.window, contribution.row}), f.counts.resize(f.counts.size() + n, 0);
        const std::uint32_t cell = at->second;
        f.cell_of.push_back(cell);
        for (std::size_t a = 0; a < n; ++a) {
            const SpecWindowTable::Aggregate& aggregate = t_.aggregates[a];
            if (!filters_.passes(aggregate.where, row)) continue;
            if (aggregate.function == AggregateFunction::count) {  // takes no input (the spec reader's rule)
                ++f.counts[cell * n + a];
                continue;
            }
            const auto v = spec::input_view(row.values[*aggregate.input], aggregate.type, buffer);
            if (!v) continue;  // NULL: not a member
            std::string_view member = *v;
            if (member.data() == buffer.data()) member = f.owned.emplace_back(member);  // formatted into the buffer: kept
            f.members.push_back({static_cast<std::uint32_t>(a), cell, member});
        }
    }
    std::sort(f.members.begin(), f.members.end());
    f.members.erase(std::unique(f.members.begin(), f.members.end()), f.members.end());
    for (const auto& m : f.members) ++f.counts[m.cell * n + m.aggregate];

    Written written;
    if (f.cells.empty()) return written;

    // 2. Which cells the table holds.
    copy_.reset();
    for (std::size_t c = 0; c < f.cells.size(); ++c) {
        copy_.begin_row(static_cast<std::int16_t>(3 + t_.groups.size()));
        copy_.int4(static_cast<std::int32_t>(c));
        copy_key(f, c, false, batch, begin, keys);
    }
    // The staging table empties itself at COMMIT and ROLLBACK; emptied here too, so that a second
    // write in one transaction (none today) could not read the first's cells.
    conn_.exec("DELETE FROM " + cells_table_);
    conn_.copy_in("COPY " + cells_table_ + " FROM STDIN (FORMAT binary)", copy_.finish());
    std::vector<bool> stored(f.cells.size(), false);
    const PgResult held = conn_.exec(probe_sql_);
    for (int i = 0; i < PQntuples(held.get()); ++i) stored[static_cast<std::size_t>(std::atoll(PQgetvalue(held.get(), i, 0)))] = true;

    // 3. The new cells, with their members.
    written.inserted = static_cast<std::int64_t>(std::count(stored.begin(), stored.end(), false));
    if (written.inserted > 0) {
        conn_.exec("SAVEPOINT new_window_cells");
        try {
            copy_new(f, stored, batch, begin, keys);
        } catch (const PgError& e) {
            if (!unique_violation(e)) throw;
            conn_.exec("ROLLBACK TO SAVEPOINT new_window_cells");
            std::int64_t orphans = 0;
            for (const auto& sql : orphans_sql_) orphans += std::atoll(PQcmdTuples(conn_.exec(sql).get()));
            spdlog::warn("deleted {} members of {} cells that the table lacks (deleted by hand, their members left): those cells count "
                         "their members anew ({})",
                         orphans, t_.name, first_line(e.what()));
            copy_new(f, stored, batch, begin, keys);
        }
        conn_.exec("RELEASE SAVEPOINT new_window_cells");
    }

    // 4. The stored cells' contributions, for the merge statement.
    for (std::size_t i = 0; i < contributions.size(); ++i)
        if (f.cell_of[i] != kNoCell && stored[f.cell_of[i]]) written.stored.push_back(contributions[i]);
    return written;
}

}  // namespace starstream::daemon::postgres
