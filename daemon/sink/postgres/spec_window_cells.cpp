#include "sink/postgres/spec_window_cells.h"

#include "sink/postgres/bisection.h"  // unique_violation
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/table_columns.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/value_text.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace starstream::daemon::postgres {

namespace {

using spec::AggregateFunction;
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

SpecWindowCells::SpecWindowCells(PgConnection& conn, BinaryCopyWriter& copy, const SpecWindowTable& t)
    : conn_(conn), copy_(copy), t_(t), cells_table_(temp_table_name("stage_spec", t.name, "cells")) {
    std::string groups;
    for (std::size_t i = 0; i < t.groups.size(); ++i) groups += fmt::format(", g{} {}", i, t.groups[i].dimension ? "bigint" : kText);
    conn_.exec(fmt::format("CREATE TEMP TABLE {} (n integer, window_start timestamptz, window_end timestamptz{}) ON COMMIT DELETE ROWS",
                           cells_table_, groups));
    const std::string table = sql_identifier(t.name);
    // The key's leading column: one step of the primary key's index. A record's time is within
    // the years 1-9999 (spec/record_decoder.h), so no cell starts at or after year 10000: rows
    // edited by hand beyond it (or at +-infinity, which bigint cannot hold) are left out, not
    // cast into an error that would refuse every batch.
    newest_sql_ = fmt::format("SELECT (extract(epoch FROM max({0})) * 1000000)::bigint FROM {1} WHERE {0} > '-infinity' AND {0} < '10000-01-01'",
                              sql_identifier(t.start_column), table);
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

void SpecWindowCells::copy_key(const spec::WindowFold& fold, std::size_t c, bool member_key, const spec::SpecBatch& batch) {
    const spec::WindowFold::Cell& cell = fold.cells()[c];
    copy_.timestamptz_us(cell.window.start_us);
    if (!member_key || t_.cumulative) copy_.timestamptz_us(cell.window.end_us);
    std::string buffer;
    for (std::size_t g = 0; g < t_.groups.size(); ++g) {
        if (t_.groups[g].dimension) {
            copy_.int8(fold.group_key(c, g));
        } else {  // not NULL: the fold gives a NULL group no cell
            copy_.text(*spec::input_view(batch.rows[cell.row].values[t_.groups[g].index], kText, buffer));
        }
    }
}

void SpecWindowCells::copy_new(const spec::WindowFold& fold, const spec::WindowFold::Tally& tally, const std::vector<bool>& copied,
                               std::int64_t final_through_us, const spec::SpecBatch& batch) {
    const std::size_t n = t_.aggregates.size();
    copy_.reset();
    for (std::size_t c = 0; c < fold.cells().size(); ++c) {
        if (!copied[c]) continue;
        copy_.begin_row(static_cast<std::int16_t>(2 + t_.groups.size() + n));
        copy_key(fold, c, false, batch);
        for (std::size_t a = 0; a < n; ++a) copy_.int8(tally.counts[c * n + a]);
    }
    conn_.copy_in(copy_cells_sql_, copy_.finish());
    const std::int16_t member_fields = static_cast<std::int16_t>(1 + (t_.cumulative ? 1 : 0) + t_.groups.size() + 1);
    const auto& members = fold.members();
    std::size_t m = 0, distinct = 0, final_members = 0;
    for (std::size_t a = 0; a < n; ++a) {
        if (t_.aggregates[a].function != AggregateFunction::count_distinct) continue;
        copy_.reset();
        for (; m < members.size() && members[m].aggregate == a; ++m) {
            const std::uint32_t c = members[m].cell;
            if (!copied[c] || tally.member_records[m] == 0) continue;
            if (fold.cells()[c].window.end_us <= final_through_us) {
                ++final_members;
                continue;
            }
            copy_.begin_row(member_fields);
            copy_key(fold, c, true, batch);
            copy_.text(members[m].value);
        }
        conn_.copy_in(copy_members_sql_[distinct++], copy_.finish());
    }
    spdlog::debug("{}: {} members of windows final once the batch commits not copied (through {} us)", t_.name, final_members, final_through_us);
}

template <typename Pick>
std::size_t SpecWindowCells::stage_cells(const spec::WindowFold& fold, const spec::SpecBatch& batch, Pick pick) {
    copy_.reset();
    std::size_t staged = 0;
    for (std::size_t c = 0; c < fold.cells().size(); ++c) {
        if (!pick(c)) continue;
        copy_.begin_row(static_cast<std::int16_t>(3 + t_.groups.size()));
        copy_.int4(static_cast<std::int32_t>(c));
        copy_key(fold, c, false, batch);
        ++staged;
    }
    if (staged == 0) return 0;
    // The staging table empties itself at COMMIT and ROLLBACK; emptied here too, for a second
    // staging in one transaction (the orphans' repair).
    conn_.exec("DELETE FROM " + cells_table_);
    conn_.copy_in("COPY " + cells_table_ + " FROM STDIN (FORMAT binary)", copy_.finish());
    return staged;
}

SpecWindowCells::Written SpecWindowCells::write(const spec::SpecBatch& batch, const spec::WindowFold& fold, const spec::WindowFold::Tally& tally,
                                                std::int64_t final_through_us) {
    const std::size_t cells = fold.cells().size();
    Written written;
    written.stored.assign(cells, false);
    if (std::all_of(tally.cell_records.begin(), tally.cell_records.end(), [](std::int64_t r) { return r == 0; })) return written;

    // 1. Which of the cells still counted the table holds. None that starts after its newest
    // window (read under the window lock, so exact), which a backlog's batch mostly brings:
    // only the others are staged and probed.
    const PgResult newest_row = conn_.exec(newest_sql_);
    const std::int64_t newest = PQgetisnull(newest_row.get(), 0, 0) ? INT64_MIN : std::atoll(PQgetvalue(newest_row.get(), 0, 0));
    if (stage_cells(fold, batch, [&](std::size_t c) { return tally.cell_records[c] > 0 && fold.cells()[c].window.start_us <= newest; }) > 0) {
        const PgResult held = conn_.exec(probe_sql_);
        for (int i = 0; i < PQntuples(held.get()); ++i) written.stored[static_cast<std::size_t>(std::atoll(PQgetvalue(held.get(), i, 0)))] = true;
    }

    // 2. The new cells, with their members.
    std::vector<bool> copied(cells, false);
    for (std::size_t c = 0; c < cells; ++c) copied[c] = tally.cell_records[c] > 0 && !written.stored[c];
    written.inserted = static_cast<std::int64_t>(std::count(copied.begin(), copied.end(), true));
    if (written.inserted == 0) return written;
    conn_.exec("SAVEPOINT new_window_cells");
    try {
        copy_new(fold, tally, copied, final_through_us, batch);
    } catch (const PgError& e) {
        if (!unique_violation(e)) throw;
        conn_.exec("ROLLBACK TO SAVEPOINT new_window_cells");
        stage_cells(fold, batch, [&](std::size_t c) { return copied[c]; });  // the cells whose members are looked for
        std::int64_t orphans = 0;
        for (const auto& sql : orphans_sql_) orphans += std::atoll(PQcmdTuples(conn_.exec(sql).get()));
        spdlog::warn("deleted {} members of {} cells that the table lacks (deleted by hand, their members left): those cells count "
                     "their members anew ({})",
                     orphans, t_.name, first_line(e.what()));
        copy_new(fold, tally, copied, final_through_us, batch);
    }
    conn_.exec("RELEASE SAVEPOINT new_window_cells");
    return written;
}

}  // namespace starstream::daemon::postgres
