// Property test of WindowOperator: random streams with out-of-order and late records, random
// micro-batch boundaries and random restarts (snapshot, new operator, restore) must produce
// exactly the windows that a brute-force reference computes from the same events under the
// same rules (restarts go through encode_state/decode_state, the checkpoint's bytes): the watermark advances at batch ends to max(event time seen) - bound and never
// back; a record is late when its time is below the watermark at its arrival.
// Every window kind x output mode x late policy, 40 seeds each.
#include "window/window_operator.h"
#include "window/window_state_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

using namespace starstream::engine;

namespace {

constexpr std::int64_t kBound = 50;

struct Scenario {
    std::vector<WindowInput> events;
    std::vector<std::size_t> batch_ends;  ///< exclusive end index of each batch
    std::vector<bool> restart_after;      ///< per batch
};

Scenario random_scenario(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Scenario s;
    const int n = std::uniform_int_distribution<int>(50, 300)(rng);
    std::int64_t clock = 1000;
    for (int i = 0; i < n; ++i) {
        clock += std::uniform_int_distribution<int>(0, 6)(rng);
        std::int64_t t = clock - std::uniform_int_distribution<int>(0, 40)(rng);           // disorder within the bound
        if (std::bernoulli_distribution(0.08)(rng)) t -= std::uniform_int_distribution<int>(60, 400)(rng);  // late
        s.events.push_back({"k" + std::to_string(std::uniform_int_distribution<int>(0, 2)(rng)), t,
                            static_cast<double>(std::uniform_int_distribution<int>(1, 9)(rng)),
                            "d" + std::to_string(std::uniform_int_distribution<int>(0, 5)(rng)),
                            "/page-" + std::to_string(std::uniform_int_distribution<int>(0, 3)(rng))});
    }
    for (std::size_t i = 0; i < s.events.size();) {
        i = std::min(s.events.size(), i + std::uniform_int_distribution<std::size_t>(1, 40)(rng));
        s.batch_ends.push_back(i);
        s.restart_after.push_back(std::bernoulli_distribution(0.3)(rng));
    }
    return s;
}

using Table = std::map<std::pair<std::string, Window>, std::pair<AggregateState, bool>>;  // -> aggregates, is_final

/// Brute force: classify every record with the per-batch watermark, then aggregate the kept ones.
struct Reference {
    Table table;
    std::vector<std::int64_t> late_times;
    std::int64_t final_watermark = INT64_MIN;
};

Reference reference(const Scenario& s, const WindowOperatorConfig& c) {
    Reference r;
    std::int64_t wm = INT64_MIN, max_seen = INT64_MIN;
    std::vector<WindowInput> kept;
    std::size_t begin = 0;
    for (std::size_t end : s.batch_ends) {
        for (std::size_t i = begin; i < end; ++i) {
            const auto& e = s.events[i];
            if (e.time_us < wm) {
                r.late_times.push_back(e.time_us);
                if (c.late == LatePolicy::correct) kept.push_back(e);
            } else {
                kept.push_back(e);
            }
            max_seen = std::max(max_seen, e.time_us);
        }
        wm = std::max(wm, max_seen - kBound);
        begin = end;
    }
    r.final_watermark = wm;
    if (c.spec.kind == WindowKind::session) {
        std::map<std::string, std::vector<WindowInput>> by_key;
        for (const auto& e : kept) by_key[e.key].push_back(e);
        for (auto& [key, events] : by_key) {
            std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.time_us < b.time_us; });
            Window w{events[0].time_us, events[0].time_us + c.spec.gap_us};
            AggregateState agg;
            for (const auto& e : events) {
                if (e.time_us >= w.end_us) {  // does not intersect: the session ends
                    r.table[{key, w}] = {agg, w.end_us <= wm};
                    w = {e.time_us, e.time_us + c.spec.gap_us};
                    agg = {};
                }
                w.end_us = std::max(w.end_us, e.time_us + c.spec.gap_us);
                agg.add(e.time_us, e.value, e.distinct, e.label);
            }
            r.table[{key, w}] = {agg, w.end_us <= wm};
        }
    } else {
        for (const auto& e : kept)
            for (const Window& w : assign_windows(c.spec, e.time_us)) {
                auto& cell = r.table[{e.key, w}];
                cell.first.add(e.time_us, e.value, e.distinct, e.label);
                cell.second = w.end_us <= wm;
            }
    }
    if (c.mode == OutputMode::append) std::erase_if(r.table, [](const auto& kv) { return !kv.second.second; });
    return r;
}

/// The operator, fed batch by batch, restarted from its snapshot where the scenario says;
/// the sink table is the upsert (and delete, for retractions) of every emitted row.
Reference run_operator(const Scenario& s, const WindowOperatorConfig& c) {
    Reference r;
    auto op = std::make_unique<WindowOperator>(c);
    std::int64_t max_seen = INT64_MIN;
    std::map<std::pair<std::string, Window>, std::uint32_t> revisions;
    std::size_t begin = 0;
    for (std::size_t b = 0; b < s.batch_ends.size(); ++b) {
        for (std::size_t i = begin; i < s.batch_ends[b]; ++i) {
            op->process(s.events[i]);
            max_seen = std::max(max_seen, s.events[i].time_us);
        }
        op->advance_watermark(max_seen - kBound);
        for (const auto& row : op->emit()) {
            const auto id = std::make_pair(row.key, row.window);
            if (row.retracted) {
                r.table.erase(id);
                continue;
            }
            EXPECT_GT(row.revision, revisions[id]) << "revisions increase per window";
            revisions[id] = row.revision;
            r.table[id] = {row.aggregates, row.is_final};
        }
        for (const auto& late : op->take_late()) {
            r.late_times.push_back(late.input.time_us);
            EXPECT_EQ(late.lateness_us, late.watermark_us - late.input.time_us);
        }
        if (s.restart_after[b]) {  // a crash after the checkpoint: a new operator from the stored bytes
            const std::string checkpoint = encode_state(op->snapshot());
            op = std::make_unique<WindowOperator>(c);
            op->restore(decode_state(checkpoint));
        }
        begin = s.batch_ends[b];
    }
    const auto& st = op->snapshot();
    r.final_watermark = st.watermark_us;
    if (c.late == LatePolicy::drop) r.late_times.resize(st.late_dropped);  // dropped records are only counted
    return r;
}

struct Case {
    WindowSpec spec;
    OutputMode mode;
    LatePolicy late;
};

class WindowOperatorProperty : public testing::TestWithParam<Case> {};

TEST_P(WindowOperatorProperty, MatchesTheBruteForceReference) {
    const Case& k = GetParam();
    const WindowOperatorConfig config{k.spec, k.mode, k.late, /*retention_us=*/INT64_MAX / 4};
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const Scenario s = random_scenario(seed);
        const Reference expected = reference(s, config);
        const Reference actual = run_operator(s, config);
        ASSERT_EQ(actual.final_watermark, expected.final_watermark) << "seed " << seed;
        ASSERT_EQ(actual.table.size(), expected.table.size()) << "seed " << seed;
        ASSERT_TRUE(actual.table == expected.table) << "seed " << seed;
        if (k.late == LatePolicy::dead_letter) {
            ASSERT_EQ(actual.late_times, expected.late_times) << "seed " << seed;
        } else if (k.late == LatePolicy::drop) {
            ASSERT_EQ(actual.late_times.size(), expected.late_times.size()) << "seed " << seed;
        }
    }
}

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    const WindowSpec specs[] = {{WindowKind::tumbling, 60}, {WindowKind::hopping, 60, 20}, {WindowKind::cumulative, 120, 30},
                                {WindowKind::session, 0, 0, 25}};
    for (const auto& spec : specs)
        for (auto mode : {OutputMode::update, OutputMode::append})
            for (auto late : {LatePolicy::drop, LatePolicy::dead_letter, LatePolicy::correct}) cases.push_back({spec, mode, late});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(AllKindsModesPolicies, WindowOperatorProperty, testing::ValuesIn(all_cases()));

}  // namespace

TEST(WindowStateCodec, MalformedBytesAreRejected) {
    EXPECT_THROW(decode_state("{"), std::invalid_argument);
    EXPECT_THROW(decode_state(R"({"version":2})"), std::invalid_argument);
    EXPECT_THROW(decode_state(R"({"version":1})"), std::invalid_argument);
}

TEST(WindowOperator, CorrectionsBeyondRetentionAreCountedNotApplied) {
    WindowOperator op({{WindowKind::tumbling, 10}, OutputMode::append, LatePolicy::correct, /*retention_us=*/20});
    op.process({"k", 5, 1, "", "", 0});
    op.advance_watermark(15);
    auto rows = op.emit();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(rows[0].is_final);
    op.process({"k", 6, 1, "", "", 0});  // late, within retention: the final row is emitted again
    rows = op.emit();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].revision, 2u);
    EXPECT_EQ(rows[0].aggregates.count, 2u);
    op.advance_watermark(40);
    op.emit();
    op.process({"k", 7, 1, "", "", 0});  // window [0, 10) + 20 retention <= 40: gone
    EXPECT_EQ(op.snapshot().too_late, 1u);
    EXPECT_TRUE(op.emit().empty());
    EXPECT_EQ(op.take_late().size(), 1u);
}
