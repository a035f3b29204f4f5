// Bisection against a scripted store: which rows it blames, how often it probes, when it stops,
// and how it tells another instance's concurrent insert (a unique violation that is gone when
// the row is tried again) from a record violating a unique constraint (one that stays).
#include "sink/postgres/bisection.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

namespace starstream::daemon::postgres {
namespace {

/// A store refusing ranges that hold a refused row: `always` rows every time (their SQLSTATE),
/// `racing` rows with a unique violation the first `times` times a range holding them is written.
struct ScriptedStore {
    std::map<std::size_t, std::string> always;
    std::map<std::size_t, int> racing;
    int probes = 0;

    std::optional<PgError> operator()(std::size_t begin, std::size_t end) {
        ++probes;
        for (std::size_t r = begin; r < end; ++r)
            if (auto a = always.find(r); a != always.end()) return PgError("refused", a->second, false);
        for (std::size_t r = begin; r < end; ++r)
            if (auto race = racing.find(r); race != racing.end() && race->second > 0) {
                --race->second;
                return PgError("duplicate key value violates unique constraint", "23505", false);
            }
        return std::nullopt;
    }
};

std::vector<std::size_t> blamed(ScriptedStore& store, std::size_t rows, std::size_t limit = SIZE_MAX) {
    std::vector<std::size_t> out;
    const auto first = store(0, rows);
    if (!first) return out;
    bisect(store, [&](std::size_t row, const PgError&) { return out.push_back(row), out.size() <= limit; }, 0, rows, *first);
    return out;
}

TEST(Bisection, BlamesEachRefusedRowAndNoOther) {
    ScriptedStore store{{{3, "23514"}, {17, "22003"}, {18, "23502"}}, {}};
    EXPECT_EQ(blamed(store, 64), (std::vector<std::size_t>{3, 17, 18}));
}

TEST(Bisection, AUniqueViolationThatIsGoneWhenTriedAgainIsNoRecordsFault) {
    // Row 5's key was inserted by another instance meanwhile (its first write fails, the next
    // reads the key as held); row 9 violates a unique constraint against committed rows.
    ScriptedStore store{{{9, "23505"}}, {{5, 2}}};
    EXPECT_EQ(blamed(store, 16), (std::vector<std::size_t>{9}));
}

TEST(Bisection, AUniqueViolationRacingEveryTryIsBlamed) {
    ScriptedStore store{{}, {{5, 100}}};
    EXPECT_EQ(blamed(store, 16), (std::vector<std::size_t>{5}));
    // Written in the whole batch, in four ranges down to the row alone, then kUniqueViolationTries - 1 times again.
    EXPECT_EQ(store.racing[5], 100 - 1 - 4 - (kUniqueViolationTries - 1));
}

TEST(Bisection, StopsOnceTheCallerHasSeenEnough) {
    ScriptedStore store;
    for (std::size_t r = 0; r < 1000; ++r) store.always[r] = "23502";  // a table refusing every record
    EXPECT_EQ(blamed(store, 1000, 10).size(), 11u);
    EXPECT_LT(store.probes, 40);
}

TEST(Bisection, AnErrorNoRecordCausesBlamesNone) {
    ScriptedStore store{{{2, "42703"}}, {}};  // undefined_column: the schema's fault
    EXPECT_TRUE(blamed(store, 8).empty());
}

}  // namespace
}  // namespace starstream::daemon::postgres
