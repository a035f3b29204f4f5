// The session operator's fold (spec/session_fold.h) against a brute force: random records (session
// keys and dimension keys missing now and then, some failing the table's filter) admitted as the
// stage appends them; the admitted records must be exactly those with a filter passed and every
// key part present, sorted by (key, event time, row), whether sealed once or sealed, added to and
// sealed again.
#include "spec/record_filters.h"
#include "spec/session_fold.h"
#include "spec/spec_reader.h"
#include "spec/text_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace starstream::daemon::spec;

namespace {

const std::string kSpec = R"yaml(pipeline: visits
source: {topics: [visits]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  user: {pointer: /user, type: text}
  kind: {pointer: /kind, type: text}
event: {id: id, time: at}
dimensions:
  dim_kind: {key: [kind]}
facts:
  fact_visits: {grain: event, columns: [id]}
windows:
  win_visits:
    session: {gap: 10m, key: user}
    where: {kind: [view, buy]}
    group_by: [dim_kind]
    aggregates: {events: count}
)yaml";

struct SessionFolds : ::testing::Test {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "visits.yaml");
    const ReferenceLayout layout{spec};
    const RecordFilters filters{spec, layout};
    std::vector<SpecRow> rows;
    std::vector<std::vector<std::int64_t>> keys;  ///< per row: its dim_kind key
    TextArena arena;

    void make_rows(std::mt19937_64& rng, int count) {
        auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
        for (int i = 0; i < count; ++i) {
            SpecRow& row = rows.emplace_back();
            row.values.resize(layout.size());
            row.values[layout.at("id")] = arena.store("e" + std::to_string(i));
            row.event_time_us = (1767225600LL + pick(40) * 60) * 1000000;
            row.values[layout.at("at")] = row.event_time_us;
            if (pick(6)) row.values[layout.at("user")] = arena.store(pick(4) ? "u" + std::to_string(pick(3)) : "");  // "" is a key
            row.values[layout.at("kind")] = arena.store(pick(5) ? (pick(2) ? "view" : "buy") : "cart");
            keys.push_back({pick(5) ? std::int64_t{pick(3) - 1} : INT64_MIN});
        }
    }

    SessionFold fold(std::size_t seal_at = SIZE_MAX) const {
        SessionFold f(std::make_shared<const FoldedSession>(folded_sessions(spec, layout, filters).at(0)), 0);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            if (r == seal_at) f.seal();
            f.add(rows, keys[r], filters);
        }
        f.seal();
        return f;
    }

    /// (user, kind key, event time, row) of each admitted record, in the fold's order.
    using Entry = std::tuple<std::string, std::int64_t, std::int64_t, std::size_t>;
    std::vector<Entry> entries(const SessionFold& f) const {
        std::vector<Entry> out;
        for (const auto& a : f.admitted()) {
            const auto parts = session_key_parts(f.key(a));
            EXPECT_EQ(parts.size(), 2u);
            out.emplace_back(std::string(parts.at(0)), std::stoll(std::string(parts.at(1))), a.t, a.r);
        }
        return out;
    }
};

}  // namespace

TEST_F(SessionFolds, TheAdmittedRecordsAreThoseWithEveryKeySortedByKeyAndTime) {
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        std::mt19937_64 rng(seed);
        rows.clear(), keys.clear();
        make_rows(rng, 200);
        std::vector<Entry> expected;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto* user = std::get_if<Text>(&rows[r].values[layout.at("user")]);
            const auto kind = std::get<Text>(rows[r].values[layout.at("kind")]).view();
            if (user && kind != "cart" && keys[r][0] != INT64_MIN) expected.emplace_back(std::string(user->view()), keys[r][0], rows[r].event_time_us, r);
        }
        const std::vector<Entry> once = entries(fold()), twice = entries(fold(rows.size() / 3));
        EXPECT_EQ(once, twice) << "seed " << seed;
        std::vector<Entry> admitted = once;
        std::sort(admitted.begin(), admitted.end()), std::sort(expected.begin(), expected.end());
        EXPECT_EQ(admitted, expected) << "seed " << seed;
        // Records of one key are adjacent and in (time, row) order; the keys' own order is the
        // encoding's (length prefixes), which only needs to be consistent.
        for (std::size_t i = 1; i < once.size(); ++i) {
            const bool same_key = std::get<0>(once[i]) == std::get<0>(once[i - 1]) && std::get<1>(once[i]) == std::get<1>(once[i - 1]);
            if (same_key) {
                EXPECT_LE(std::make_pair(std::get<2>(once[i - 1]), std::get<3>(once[i - 1])), std::make_pair(std::get<2>(once[i]), std::get<3>(once[i])));
            }
            for (std::size_t j = 0; !same_key && j + 1 < i; ++j)  // a key seen before must not come back
                EXPECT_FALSE(std::get<0>(once[j]) == std::get<0>(once[i]) && std::get<1>(once[j]) == std::get<1>(once[i])) << "seed " << seed << " at " << i;
        }
    }
}
