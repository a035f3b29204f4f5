// The window operator's fold (spec/window_fold.h) against a brute force: random records (groups
// and members NULL now and then, members sent as text or as numbers, dimension keys missing now
// and then) folded into a hopping and a cumulative counting table; then random contributions
// taken out as the sink takes them (a record whose fact is not new, a late one, a correction's
// final windows). What the tally keeps must equal the brute force over the contributions kept:
// per cell each count and the distinct members, and no cell left whose every record was taken
// out. A fold sealed, added to and sealed again equals one sealed once; a table that does not
// only count gets its windows assigned and no cells.
#include "spec/record_filters.h"
#include "spec/spec_reader.h"
#include "spec/text_arena.h"
#include "spec/window_fold.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

using namespace starstream::daemon::spec;

namespace {

constexpr std::int64_t kSecondUs = 1000000;
constexpr std::int64_t kBaseUs = 1767225600LL * kSecondUs;

const std::string kSpec = R"yaml(pipeline: folds
source: {topics: [folds]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  kind: {pointer: /kind, type: text}
  shop: {pointer: /shop, type: text}
  tag: {pointer: /tag, type: text}
  device: {pointer: /device, type: text}
  n: {pointer: /n, type: integer}
event: {id: id, time: at}
dimensions:
  dim_shop: {key: [shop]}
facts:
  fact_folds: {grain: event, columns: [id]}
windows:
  win_hop:
    hopping: {size: 20s, slide: 10s}
    where: {kind: view}
    group_by: [dim_shop, tag]
    aggregates:
      views: count
      devices: count_distinct(device)
      with_n: {function: count, where: {n: {present: true}}}
  win_running:
    cumulative: {size: 40s, step: 10s}
    group_by: [tag]
    aggregates: {devices: count_distinct(device)}
  win_sums:
    tumbling: 10s
    group_by: [kind]
    aggregates: {total: sum(n)}
)yaml";

struct Folds : ::testing::Test {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "folds.yaml");
    const ReferenceLayout layout{spec};
    const RecordFilters filters{spec, layout};
    const std::vector<FoldedWindow> windows = folded_windows(spec, layout, filters);
    std::vector<SpecRow> rows;
    std::vector<std::vector<std::int64_t>> keys;  ///< per row, per dimension
    TextArena arena;                              ///< the rows' text

    Text text(const std::string& s) { return arena.store(s); }

    void make_rows(std::mt19937_64& rng, int count) {
        auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
        for (int i = 0; i < count; ++i) {
            SpecRow row;
            row.values.resize(layout.size());
            row.values[layout.at("id")] = text("e" + std::to_string(i));
            row.event_time_us = kBaseUs + pick(80) * kSecondUs;
            row.values[layout.at("at")] = row.event_time_us;
            row.values[layout.at("kind")] = text(pick(4) ? "view" : "cart");
            if (pick(6)) row.values[layout.at("tag")] = text(std::string(1, "aBz"[pick(3)]));
            if (pick(5)) {
                const int d = pick(5);
                if (d < 2 && pick(2)) row.values[layout.at("device")] = std::int64_t{d == 0 ? 42 : 7};  // "42" as a number: one member with the text
                else row.values[layout.at("device")] = text(d == 0 ? "42" : d == 1 ? "7" : "device-with-a-long-identifier-" + std::to_string(d));
            }
            if (pick(3)) row.values[layout.at("n")] = std::int64_t{pick(9)};
            rows.push_back(std::move(row));
            keys.push_back({pick(5) ? std::int64_t{pick(3)} : INT64_MIN});
        }
    }

    WindowFold fold(std::size_t table, std::size_t seal_at = SIZE_MAX) const {
        WindowFold f(std::make_shared<const FoldedWindow>(windows.at(table)), 0);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            if (r == seal_at) f.seal();
            f.add(rows, keys[r], filters);
        }
        f.seal();
        return f;
    }

    /// A cell as the test names it: bounds, the dimension key (or 0), the tag.
    using CellName = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::string>;
    struct Counts {
        std::vector<std::int64_t> counts;
        std::vector<std::set<std::string>> members;  ///< per aggregate: its distinct members
        bool operator==(const Counts&) const = default;
    };

    static std::string tag_of(const SpecRow& row, const ReferenceLayout& layout) {
        const auto* t = std::get_if<Text>(&row.values[layout.at("tag")]);
        return t ? std::string(t->view()) : std::string("\x01null");
    }
    static std::optional<std::string> device_of(const SpecRow& row, const ReferenceLayout& layout) {
        const FieldValue& v = row.values[layout.at("device")];
        if (const auto* t = std::get_if<Text>(&v)) return std::string(t->view());
        if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
        return std::nullopt;
    }

    /// What `f`, less what `tally` took out, holds per cell.
    std::map<CellName, Counts> kept_by_fold(std::size_t table, const WindowFold& f, const WindowFold::Tally& tally) const {
        const FoldedWindow& w = windows.at(table);
        const std::size_t n = w.aggregates.size();
        std::map<CellName, Counts> out;
        std::vector<CellName> names;
        for (std::size_t c = 0; c < f.cells().size(); ++c) {
            const auto& cell = f.cells()[c];
            std::int64_t key = 0;
            for (std::size_t g = 0; g < w.groups.size(); ++g)
                if (w.groups[g].dimension) key = f.group_key(c, g);
            names.emplace_back(cell.window.start_us, cell.window.end_us, key, tag_of(rows[cell.row], layout));
            if (tally.cell_records[c] == 0) continue;
            Counts& counts = out[names.back()];
            counts.counts.assign(tally.counts.begin() + static_cast<long>(c * n), tally.counts.begin() + static_cast<long>((c + 1) * n));
            counts.members.resize(n);
        }
        for (std::size_t m = 0; m < f.members().size(); ++m) {
            const auto& member = f.members()[m];
            if (tally.member_records[m] > 0) out.at(names[member.cell]).members[member.aggregate].insert(std::string(member.value));
        }
        return out;
    }

    /// The brute force over the (row, contribution) pairs `kept`.
    std::map<CellName, Counts> brute_force(std::size_t table, const std::set<std::pair<std::size_t, std::size_t>>& kept) const {
        const FoldedWindow& w = windows.at(table);
        const std::size_t n = w.aggregates.size();
        const auto& spec_window = spec.windows.at(table);
        std::map<CellName, Counts> out;
        for (const auto& [r, k] : kept) {
            const SpecRow& row = rows[r];
            const auto windows_of_row = starstream::engine::assign_windows(w.window, row.event_time_us);
            const auto& window = windows_of_row.at(k);
            const bool by_shop = table == 0;
            if ((by_shop && keys[r][0] == INT64_MIN) || !std::get_if<Text>(&row.values[layout.at("tag")])) continue;  // a NULL group
            Counts& c = out[{window.start_us, window.end_us, by_shop ? keys[r][0] : 0, tag_of(row, layout)}];
            c.counts.resize(n), c.members.resize(n);
            for (std::size_t a = 0; a < n; ++a) {
                if (!filters.passes(filters.number(spec_window.aggregates[a].where), row)) continue;
                if (!w.aggregates[a].input) {
                    ++c.counts[a];
                } else if (const auto d = device_of(row, layout)) {
                    c.members[a].insert(*d);
                }
            }
        }
        for (auto& [name, c] : out)
            for (std::size_t a = 0; a < n; ++a)
                if (w.aggregates[a].input) c.counts[a] = static_cast<std::int64_t>(c.members[a].size());
        return out;
    }
};

}  // namespace

TEST_F(Folds, TheSpecsTablesAreFoldedAsTheyCount) {
    ASSERT_EQ(windows.size(), 3u);
    EXPECT_TRUE(windows[0].counting);
    EXPECT_TRUE(windows[1].counting);
    EXPECT_FALSE(windows[2].counting) << "a sum is not a count";
    EXPECT_TRUE(windows[2].groups.empty());
}

TEST_F(Folds, WhatTheTallyKeepsEqualsTheBruteForceOverTheContributionsKept) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 rng(seed);
        rows.clear(), keys.clear();
        make_rows(rng, 300);
        for (std::size_t table : {0u, 1u}) {
            const WindowFold f = fold(table);
            ASSERT_EQ(f.rows(), rows.size());
            std::vector<WindowFold::Contribution> contributions;
            for (std::size_t r = 0; table == 0 && r < rows.size(); ++r) {  // the table's filter: views only
                const bool view = std::get<Text>(rows[r].values[layout.at("kind")]).view() == "view";
                f.contributions(r, rows[r], filters, contributions);
                ASSERT_EQ(contributions.size(), view ? 2u : 0u) << "row " << r;  // 20 s windows sliding by 10 s
            }
            WindowFold::Tally tally = f.tally();
            std::set<std::pair<std::size_t, std::size_t>> kept;
            for (std::size_t r = 0; r < rows.size(); ++r) {
                f.contributions(r, rows[r], filters, contributions);
                const bool whole_row = rng() % 5 == 0;  // not new, or late
                for (std::size_t k = 0; k < contributions.size(); ++k) {
                    if (!whole_row && rng() % 4 != 0) kept.emplace(r, k);
                    else if (contributions[k].cell != WindowFold::kNoCell) f.subtract(tally, rows[r], contributions[k].cell, filters);
                }
            }
            ASSERT_EQ(kept_by_fold(table, f, tally), brute_force(table, kept)) << "seed " << seed << ", table " << table;
        }
    }
}

TEST_F(Folds, AFoldSealedAddedToAndSealedAgainEqualsOneSealedOnce) {
    std::mt19937_64 rng(7);
    make_rows(rng, 400);
    for (std::size_t table : {0u, 1u}) {
        const WindowFold once = fold(table), twice = fold(table, 150);
        EXPECT_EQ(kept_by_fold(table, twice, twice.tally()), kept_by_fold(table, once, once.tally())) << "table " << table;
        std::set<std::pair<std::size_t, std::size_t>> all;
        std::vector<WindowFold::Contribution> contributions;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            once.contributions(r, rows[r], filters, contributions);
            for (std::size_t k = 0; k < contributions.size(); ++k) all.emplace(r, k);
        }
        EXPECT_EQ(kept_by_fold(table, once, once.tally()), brute_force(table, all)) << "table " << table;
    }
}

TEST_F(Folds, ATableThatDoesNotOnlyCountGetsItsWindowsAndNoCells) {
    std::mt19937_64 rng(3);
    make_rows(rng, 50);
    const WindowFold f = fold(2);
    EXPECT_TRUE(f.cells().empty());
    std::vector<WindowFold::Contribution> contributions;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        f.contributions(r, rows[r], filters, contributions);
        const auto expected = starstream::engine::assign_windows(windows[2].window, rows[r].event_time_us);
        ASSERT_EQ(contributions.size(), expected.size()) << "row " << r;
        for (std::size_t k = 0; k < expected.size(); ++k) {
            EXPECT_EQ(contributions[k].window.start_us, expected[k].start_us);
            EXPECT_EQ(contributions[k].cell, WindowFold::kNoCell);
        }
    }
}
