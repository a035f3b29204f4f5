// Property test of the shared-table windows (WindowPartials + merge_sessions): random streams
// with out-of-order and late records are spread over random "partitions" (a record's batch is
// drawn at random, as with unkeyed producers and several instances), the batches are merged
// into one table in a random order (instances commit in any order), and each batch judges
// lateness against the watermark of its merge. The merged table must equal a brute force that
// classifies every record against its batch's watermark with the same rules and then
// aggregates the kept records from scratch (sessions: sort per key, split at gaps).
// Every window kind x late policy, 60 seeds each.
#include "window/window_partials.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

using namespace starstream::engine;

namespace {

constexpr std::int64_t kBound = 50, kAllowedLateness = 70;

struct Scenario {
    std::vector<WindowInput> events;
    std::vector<std::vector<std::size_t>> batches;  ///< event indices, in the order batches merge
    std::vector<std::int64_t> watermarks;           ///< the watermark each batch judges against
};

Scenario random_scenario(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Scenario s;
    const int n = uniform(50, 300);
    std::int64_t clock = 1000;
    for (int i = 0; i < n; ++i) {
        clock += uniform(0, 6);
        std::int64_t t = clock - uniform(0, 40);                                             // disorder within the bound
        if (std::bernoulli_distribution(0.08)(rng)) t -= uniform(60, 400);                  // late
        s.events.push_back({"k" + std::to_string(uniform(0, 2)), t, static_cast<double>(uniform(1, 9)), "d" + std::to_string(uniform(0, 5)),
                            "/page-" + std::to_string(uniform(0, 3)), i});
    }
    // Consecutive stretches of the stream, each split at random over 1-3 batches (partitions of
    // one poll), the batches of a stretch merging in random order; the watermark moves between
    // stretches to max(event time seen) - bound and never back.
    std::int64_t watermark = INT64_MIN, max_seen = INT64_MIN;
    for (std::size_t i = 0; i < s.events.size();) {
        const std::size_t end = std::min(s.events.size(), i + static_cast<std::size_t>(uniform(1, 60)));
        std::vector<std::vector<std::size_t>> stretch(static_cast<std::size_t>(uniform(1, 3)));
        for (; i < end; ++i) {
            stretch[static_cast<std::size_t>(uniform(0, static_cast<int>(stretch.size()) - 1))].push_back(i);
            max_seen = std::max(max_seen, s.events[i].time_us);
        }
        std::shuffle(stretch.begin(), stretch.end(), rng);
        for (auto& b : stretch) s.batches.push_back(std::move(b)), s.watermarks.push_back(watermark);
        watermark = std::max(watermark, max_seen - kBound);
    }
    return s;
}

using Table = std::map<std::pair<std::string, Window>, AggregateState>;

struct Result {
    Table table;
    std::vector<std::int64_t> late_origins;  ///< records not aggregated and listed as late
    std::uint64_t dropped = 0, corrected = 0;
};

std::int64_t last_end(const WindowSpec& spec, std::int64_t t) {
    if (spec.kind == WindowKind::session) return t + spec.gap_us;
    return assign_windows(spec, t).back().end_us;
}

Result brute_force(const Scenario& s, const WindowTableSpec& spec) {
    Result r;
    std::vector<WindowInput> kept;
    for (std::size_t b = 0; b < s.batches.size(); ++b)
        for (std::size_t i : s.batches[b]) {
            const auto& e = s.events[i];
            const std::int64_t wm = s.watermarks[b];
            if (e.time_us >= wm) {
                kept.push_back(e);
            } else if (spec.late == LatePolicy::drop) {
                ++r.dropped;
            } else if (spec.late == LatePolicy::dead_letter || last_end(spec.window, e.time_us) + spec.allowed_lateness_us <= wm) {
                r.late_origins.push_back(e.origin);
            } else {
                ++r.corrected, kept.push_back(e);
            }
        }
    if (spec.window.kind != WindowKind::session) {
        for (const auto& e : kept)
            for (const Window& w : assign_windows(spec.window, e.time_us)) r.table[{e.key, w}].add(e.time_us, e.value, e.distinct, e.label);
        return r;
    }
    std::map<std::string, std::vector<WindowInput>> by_key;
    for (const auto& e : kept) by_key[e.key].push_back(e);
    for (auto& [key, events] : by_key) {
        std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.time_us < b.time_us; });
        std::int64_t first = events[0].time_us, last = first;
        AggregateState agg;
        for (const auto& e : events) {
            if (e.time_us >= last + spec.window.gap_us) {  // beyond the gap: the session ends
                r.table[{key, Window{first, last + spec.window.gap_us}}] = agg;
                first = e.time_us, agg = {};
            }
            last = e.time_us;
            agg.add(e.time_us, e.value, e.distinct, e.label);
        }
        r.table[{key, Window{first, last + spec.window.gap_us}}] = agg;
    }
    return r;
}

/// Batches pre-aggregated by WindowPartials and merged into one table, as the sink does.
Result merged_batches(const Scenario& s, const WindowTableSpec& spec) {
    Result r;
    std::map<std::string, std::vector<Session>> stored;
    for (std::size_t b = 0; b < s.batches.size(); ++b) {
        WindowPartials batch(spec, s.watermarks[b]);
        for (std::size_t i : s.batches[b]) batch.add(s.events[i]);
        for (const auto& [id, partial] : batch.cells()) r.table[id].merge(partial);
        for (auto& [key, sessions] : batch.take_sessions()) {
            auto& list = stored[key];
            list.insert(list.end(), sessions.begin(), sessions.end());
            list = merge_sessions(std::move(list), spec.window.gap_us);
        }
        for (const auto& late : batch.late()) {
            r.late_origins.push_back(late.input.origin);
            EXPECT_EQ(late.lateness_us, late.watermark_us - late.input.time_us);
            EXPECT_GT(late.lateness_us, 0);
        }
        r.dropped += batch.late_counts().dropped;
        r.corrected += batch.late_counts().corrected;
        EXPECT_EQ(batch.late_counts().dead_lettered, batch.late().size());
    }
    for (const auto& [key, sessions] : stored)
        for (const auto& session : sessions) r.table[{key, Window{session.first_us, session.last_us + spec.window.gap_us}}] = session.aggregates;
    return r;
}

class WindowPartialsProperty : public testing::TestWithParam<WindowTableSpec> {};

TEST_P(WindowPartialsProperty, MergedBatchesMatchTheBruteForce) {
    const WindowTableSpec& spec = GetParam();
    std::size_t late_seen = 0;
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        const Scenario s = random_scenario(seed);
        Result expected = brute_force(s, spec), actual = merged_batches(s, spec);
        std::sort(expected.late_origins.begin(), expected.late_origins.end());
        std::sort(actual.late_origins.begin(), actual.late_origins.end());
        ASSERT_EQ(actual.table.size(), expected.table.size()) << "seed " << seed;
        ASSERT_TRUE(actual.table == expected.table) << "seed " << seed;
        ASSERT_EQ(actual.late_origins, expected.late_origins) << "seed " << seed;
        ASSERT_EQ(actual.dropped, expected.dropped) << "seed " << seed;
        ASSERT_EQ(actual.corrected, expected.corrected) << "seed " << seed;
        late_seen += expected.late_origins.size() + expected.dropped + expected.corrected;
    }
    EXPECT_GT(late_seen, 0u) << "the scenarios must exercise the late policy";
}

std::vector<WindowTableSpec> all_specs() {
    std::vector<WindowTableSpec> specs;
    const WindowSpec windows[] = {{WindowKind::tumbling, 60}, {WindowKind::hopping, 60, 20}, {WindowKind::cumulative, 120, 30},
                                  {WindowKind::session, 0, 0, 25}};
    for (const auto& w : windows)
        for (auto late : {LatePolicy::drop, LatePolicy::dead_letter, LatePolicy::correct}) specs.push_back({w, late, kAllowedLateness});
    return specs;
}

INSTANTIATE_TEST_SUITE_P(AllKindsAndPolicies, WindowPartialsProperty, testing::ValuesIn(all_specs()));

}  // namespace

TEST(MergeSessions, ABridgingSessionJoinsTwo) {
    auto one = [](std::int64_t t) {
        Session s{t, t, {}};
        s.aggregates.add(t, 1, "", "/p" + std::to_string(t));
        return s;
    };
    // With gap 10, [0, 10) and [18, 28) are apart; an event at 9 extends the first to [0, 19),
    // which now reaches 18: one session.
    auto merged = merge_sessions({one(18), one(0)}, 10);
    ASSERT_EQ(merged.size(), 2u);
    merged.push_back(one(9));
    merged = merge_sessions(std::move(merged), 10);
    ASSERT_EQ(merged.size(), 1u);
    EXPECT_EQ(merged[0].first_us, 0);
    EXPECT_EQ(merged[0].last_us, 18);
    EXPECT_EQ(merged[0].aggregates.count, 3u);
    EXPECT_EQ(merged[0].aggregates.first_label, "/p0");
    EXPECT_EQ(merged[0].aggregates.last_label, "/p18");
}

TEST(WindowPartials, TooLateCorrectionsAreDeadLettered) {
    // Window [0, 10) plus 20 of allowed lateness: at watermark 29 it still takes records, at 30 not.
    WindowPartials open({{WindowKind::tumbling, 10, 10, 0}, LatePolicy::correct, 20}, 29);
    open.add({"k", 5, 1, "", "", 1});
    EXPECT_EQ(open.late_counts().corrected, 1u);
    EXPECT_EQ(open.cells().size(), 1u);
    WindowPartials closed({{WindowKind::tumbling, 10, 10, 0}, LatePolicy::correct, 20}, 30);
    closed.add({"k", 5, 1, "", "", 1});
    EXPECT_TRUE(closed.cells().empty());
    ASSERT_EQ(closed.late().size(), 1u);
    EXPECT_EQ(closed.late()[0].lateness_us, 25);
    EXPECT_EQ(closed.late()[0].target, (Window{0, 10}));
}
