// The SCD type 2 merge against a real PostgreSQL, compared with a brute force: random
// observations and references for a few keys, in random batches and arrival order (late,
// duplicated, tied at equal times, before a key's first observation), and after every batch the
// stored versions and every fact's version must equal what sorting all observations gives.
#include "sink/postgres/scd2_merge.h"

#include "local_postgres_server.h"
#include "sink/postgres/scd2_dimensions.h"
#include "spec/spec_reader.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/progress_store.h"  // text_array
#include "sink/postgres/window_lock.h"     // kBeginReadCommitted

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <tuple>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kMinusInfinity = INT64_MIN, kInfinity = INT64_MAX;
constexpr std::int64_t kBaseUs = 1767225600LL * 1000000;  // 2026-01-01 UTC

// ---- the brute force -------------------------------------------------------------------------

/// An attribute tuple: price (numeric in the database) and label (text). Prices 9, 10, 11 make
/// numeric and text order differ ("10" < "9"), so a tie broken by text would be caught.
struct Values {
    int price = 0;
    std::string label;
    auto operator<=>(const Values&) const = default;
};

struct Event {
    std::int64_t id = 0;
    std::string key;
    std::int64_t time_us = 0;
    std::optional<Values> values;  ///< nullopt: a reference
};

struct Version {
    std::int64_t from = kMinusInfinity, to = kInfinity;
    std::optional<Values> values;  ///< nullopt: never observed (inferred member)
    bool operator==(const Version&) const = default;
};

/// A key's versions from all its observations: sort by time, at each time the greatest tuple
/// wins, runs of equal values are versions, the first from -infinity, the last to infinity.
std::vector<Version> oracle_versions(std::vector<std::pair<std::int64_t, Values>> observations) {
    if (observations.empty()) return {Version{}};
    std::sort(observations.begin(), observations.end());
    std::vector<Version> versions;
    for (std::size_t i = 0; i < observations.size(); ++i) {
        const bool last_at_time = i + 1 == observations.size() || observations[i + 1].first != observations[i].first;
        if (!last_at_time) continue;  // a greater tuple at the same time wins
        const auto& [time, values] = observations[i];
        if (!versions.empty() && versions.back().values == values) continue;
        if (!versions.empty()) versions.back().to = time;
        versions.push_back({versions.empty() ? kMinusInfinity : time, kInfinity, values});
    }
    return versions;
}

const Version& version_at(const std::vector<Version>& versions, std::int64_t time_us) {
    for (const auto& v : versions)
        if (v.from <= time_us && time_us < v.to) return v;
    throw std::logic_error("the oracle does not tile time");
}

// ---- the database under test -----------------------------------------------------------------

/// A dimension under test and how the test's events map onto it.
struct Shape {
    Scd2Dimension dimension;
    std::string ddl;           ///< the fact table and its index
    std::string versions_sql;  ///< test key, surrogate key, valid_from, valid_to (us), is_current, price, label; by key and time
    std::function<std::vector<std::string>(const std::string&)> key;  ///< the test's key ("item_3") -> natural key values
    bool labelled = true;      ///< label is an attribute (else the events' label is always "a")
    const std::string& fact_table() const { return dimension.facts[0].table; }
};

/// Microseconds since the Unix epoch, +-infinity as INT64_MIN/MAX.
std::string micros(const std::string& column);

/// The lab events' item, with a second attribute: one text key, price numeric and label text.
Shape lab_item() {
    return {{"dim_lab_item", "lab_item_key", {{"item_id", "text"}}, {{"price", "numeric"}, {"label", "text"}},
             {{"fact_lab_event", "lab_item_key", "event_time"}}},
            "CREATE TABLE fact_lab_event (event_id bigint PRIMARY KEY, lab_item_key bigint NOT NULL, event_time timestamptz NOT NULL);"
            "CREATE INDEX ON fact_lab_event (lab_item_key, event_time);",
            "SELECT item_id, lab_item_key, " + micros("valid_from") + ", " + micros("valid_to") +
                ", is_current, price::text, label FROM dim_lab_item ORDER BY item_id, valid_from",
            [](const std::string& key) { return std::vector<std::string>{key}; }};
}

/// A store's product: a two-column key (text, bigint) and a single attribute, price, as
/// lab_events' dim_lab_item has.
Shape store_product() {
    return {{"dim_store_product", "store_product_key", {{"store_id", "text"}, {"product_id", "bigint"}}, {{"price", "numeric"}},
             {{"fact_sale", "store_product_key", "sold_at"}}},
            "CREATE TABLE fact_sale (event_id bigint PRIMARY KEY, store_product_key bigint NOT NULL, sold_at timestamptz NOT NULL);"
            "CREATE INDEX ON fact_sale (store_product_key, sold_at);",
            "SELECT 'item_' || product_id, store_product_key, " + micros("valid_from") + ", " + micros("valid_to") +
                ", is_current, price::text, CASE WHEN price IS NOT NULL THEN 'a' END FROM dim_store_product ORDER BY 1, valid_from",
            // item_N -> store s<N mod 2>, product N: the store alone never tells keys apart.
            [](const std::string& key) {
                const std::string n = key.substr(5);
                return std::vector<std::string>{"s" + std::to_string(std::stoi(n) % 2), n};
            },
            false};
}

/// An item with a numeric key, each test key item_N spelled `N` + `spelling` ("", ".0", ".00"):
/// one member however it is spelled, as PostgreSQL compares numerics.
Shape numeric_item(const std::string& spelling) {
    return {{"dim_numeric_item", "numeric_item_key", {{"item_id", "numeric"}}, {{"price", "numeric"}, {"label", "text"}},
             {{"fact_numeric_item", "numeric_item_key", "event_time"}}},
            "CREATE TABLE fact_numeric_item (event_id bigint PRIMARY KEY, numeric_item_key bigint NOT NULL, event_time timestamptz NOT NULL);"
            "CREATE INDEX ON fact_numeric_item (numeric_item_key, event_time);",
            "SELECT 'item_' || trim_scale(item_id), numeric_item_key, " + micros("valid_from") + ", " + micros("valid_to") +
                ", is_current, price::text, label FROM dim_numeric_item ORDER BY item_id, valid_from",
            [spelling](const std::string& key) { return std::vector<std::string>{key.substr(5) + spelling}; }};
}

/// Microseconds since the Unix epoch, +-infinity as INT64_MIN/MAX.
std::string micros(const std::string& column) {
    return "CASE WHEN " + column + " = '-infinity' THEN -9223372036854775808 WHEN " + column +
           " = 'infinity' THEN 9223372036854775807 ELSE (extract(epoch FROM " + column + ") * 1000000)::bigint END";
}

struct StoredVersion {
    std::int64_t key = 0;
    Version version;
    bool is_current = false;
};

std::optional<Values> values_of(PGresult* r, int row, int price_col) {
    if (PQgetisnull(r, row, price_col)) return std::nullopt;
    return Values{std::atoi(PQgetvalue(r, row, price_col)), PQgetvalue(r, row, price_col + 1)};
}

std::map<std::string, std::vector<StoredVersion>> stored_versions(PgConnection& conn, const Shape& shape) {
    PgResult r = conn.exec(shape.versions_sql);
    std::map<std::string, std::vector<StoredVersion>> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        StoredVersion v{std::atoll(PQgetvalue(r.get(), i, 1)),
                        {std::atoll(PQgetvalue(r.get(), i, 2)), std::atoll(PQgetvalue(r.get(), i, 3)), values_of(r.get(), i, 5)},
                        *PQgetvalue(r.get(), i, 4) == 't'};
        out[PQgetvalue(r.get(), i, 0)].push_back(v);
    }
    return out;
}

/// One batch as the sink would write it: merge, then the facts with the keys returned.
void write_batch(PgConnection& conn, const Scd2Merge& merge, const Shape& shape, const std::vector<Event>& batch, bool commit = true) {
    std::vector<Scd2Event> events;
    for (const auto& e : batch) {
        Scd2Event s{shape.key(e.key), std::nullopt, e.time_us};
        if (e.values) s.attributes = std::vector<std::string>{std::to_string(e.values->price)};
        if (e.values && shape.labelled) s.attributes->push_back(e.values->label);
        events.push_back(std::move(s));
    }
    const std::vector<std::int64_t> keys = merge.merge(conn, events);
    ASSERT_EQ(keys.size(), batch.size());
    std::vector<std::string> ids, fact_keys, times;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        ids.push_back(std::to_string(batch[i].id));
        fact_keys.push_back(std::to_string(keys[i]));
        times.push_back(std::to_string(batch[i].time_us));
    }
    conn.exec_params("INSERT INTO " + shape.fact_table() + " SELECT i, k, 'epoch'::timestamptz + t * interval '1 microsecond'"
                     " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(i, k, t)",
                     {text_array(ids), text_array(fact_keys), text_array(times)});
    if (commit) conn.exec("COMMIT");
}

/// Compares the tables with the brute force over every event written so far.
void expect_matches_oracle(PgConnection& conn, const Shape& shape, const std::vector<Event>& written, const std::string& context) {
    std::map<std::string, std::vector<std::pair<std::int64_t, Values>>> observations;
    for (const auto& e : written) {
        observations[e.key];  // referenced keys have versions too
        if (e.values) observations[e.key].emplace_back(e.time_us, *e.values);
    }
    std::map<std::string, std::vector<Version>> expected;
    for (const auto& [key, list] : observations) expected[key] = oracle_versions(list);

    const auto stored = stored_versions(conn, shape);
    ASSERT_EQ(stored.size(), expected.size()) << context;
    std::map<std::int64_t, std::pair<std::string, Version>> by_key;
    for (const auto& [key, versions] : stored) {
        const std::vector<Version>& want = expected.at(key);
        ASSERT_FALSE(versions.empty());
        // Tiling: from -infinity to infinity, each valid_to the next valid_from, one current.
        EXPECT_EQ(versions.front().version.from, kMinusInfinity) << context << " key " << key;
        EXPECT_EQ(versions.back().version.to, kInfinity) << context << " key " << key;
        int current = 0;
        for (std::size_t i = 0; i < versions.size(); ++i) {
            current += versions[i].is_current;
            EXPECT_EQ(versions[i].is_current, i + 1 == versions.size()) << context << " key " << key;
            if (i + 1 < versions.size()) {
                EXPECT_EQ(versions[i].version.to, versions[i + 1].version.from) << context << " key " << key;
            }
            by_key[versions[i].key] = {key, versions[i].version};
        }
        EXPECT_EQ(current, 1) << context << " key " << key;
        ASSERT_EQ(versions.size(), want.size()) << context << " key " << key;
        for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(versions[i].version, want[i]) << context << " key " << key << " version " << i;
    }

    PgResult facts = conn.exec("SELECT event_id, " + shape.dimension.surrogate_key + " FROM " + shape.fact_table());
    ASSERT_EQ(PQntuples(facts.get()), static_cast<int>(written.size())) << context;
    std::map<std::int64_t, std::int64_t> fact_key;
    for (int i = 0; i < PQntuples(facts.get()); ++i) fact_key[std::atoll(PQgetvalue(facts.get(), i, 0))] = std::atoll(PQgetvalue(facts.get(), i, 1));
    for (const auto& e : written) {
        const auto pointed = by_key.find(fact_key.at(e.id));
        ASSERT_NE(pointed, by_key.end()) << context << " fact " << e.id << " points at no version";
        EXPECT_EQ(pointed->second.first, e.key) << context << " fact " << e.id;
        EXPECT_EQ(pointed->second.second, version_at(expected.at(e.key), e.time_us)) << context << " fact " << e.id << " at " << e.time_us;
    }
}

// ---- the fixture -----------------------------------------------------------------------------

class Scd2MergeTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        const std::string name = std::string(test->test_suite_name()) + "_" + test->name();
        std::string database;
        for (char c : name) database += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
        database.resize(std::min<std::size_t>(database.size(), 63));  // Postgres would truncate it silently
        settings_.dsn = test::LocalPostgresServer::shared().create_database(database);
        merge_.emplace(shape_.dimension);
        conn_ = std::make_unique<PgConnection>(settings_);
        conn_->exec("SET TIME ZONE 'UTC'");
        conn_->exec(scd2_schema_sql(shape_.dimension) + shape_.ddl);
    }

    /// One batch on the test's connection.
    void write(const std::vector<Event>& batch, bool commit = true) { write_batch(*conn_, *merge_, shape_, batch, commit); }
    void expect_matches_oracle(const std::vector<Event>& written, const std::string& context) {
        postgres::expect_matches_oracle(*conn_, shape_, written, context);
    }
    void random_batches(int seeds);
    using Batches = std::pair<std::vector<Event>, std::vector<Event>>;
    /// Rounds of two merges of the same keys: A (the first batch of `batches(round)`) merges on
    /// the test's connection and holds its locks; B (the second) on another connection, its keys
    /// given by `b_shape`, must queue behind them (wait on an advisory lock) until A commits, then
    /// merge over what A committed. After each round the tables must equal the brute force.
    void queued_rounds(int rounds, const Shape& b_shape, const std::function<Batches(std::uint64_t round)>& batches);

    PgSettings settings_;
    Shape shape_ = lab_item();  ///< a derived fixture may choose another before SetUp
    std::optional<Scd2Merge> merge_;
    std::unique_ptr<PgConnection> conn_;
};

/// Random events for `keys` keys at whole seconds in [0, seconds): ties are frequent, values
/// repeat (late observations equal to their neighbours), a third are references, a tenth
/// repeat an earlier observation under a new fact id.
std::vector<Event> random_events(std::mt19937_64& rng, int count, int keys, int seconds, bool labelled = true) {
    std::vector<Event> events;
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    for (int i = 0; i < count; ++i) {
        if (!events.empty() && pick(10) == 0) {
            Event again = events[static_cast<std::size_t>(pick(static_cast<int>(events.size())))];
            again.id = i;
            events.push_back(again);
            continue;
        }
        Event e{i, "item_" + std::to_string(pick(keys)), kBaseUs + pick(seconds) * 1000000LL, std::nullopt};
        if (pick(3) != 0) e.values = Values{9 + pick(3), !labelled || pick(2) ? "a" : "b"};
        events.push_back(e);
    }
    std::shuffle(events.begin(), events.end(), rng);  // arrival order is not event-time order
    return events;
}

void Scd2MergeTest::random_batches(int seeds) {
    const Scd2Dimension& d = shape_.dimension;
    for (std::uint64_t seed = 1; seed <= static_cast<std::uint64_t>(seeds); ++seed) {
        conn_->exec("TRUNCATE " + d.table + ", " + d.observation_table() + ", " + shape_.fact_table());
        std::mt19937_64 rng(seed);
        const std::vector<Event> events = random_events(rng, 240, 3, 40, shape_.labelled);
        std::vector<Event> written;
        for (std::size_t at = 0; at < events.size();) {
            const std::size_t size = std::min<std::size_t>(events.size() - at, 1 + rng() % 30);
            const std::vector<Event> batch(events.begin() + static_cast<long>(at), events.begin() + static_cast<long>(at + size));
            conn_->exec(kBeginReadCommitted);
            write(batch);
            written.insert(written.end(), batch.begin(), batch.end());
            at += size;
            expect_matches_oracle(written, "seed " + std::to_string(seed) + " after " + std::to_string(at) + " events");
            if (HasFatalFailure() || HasNonfatalFailure()) return;
        }
    }
}

TEST_F(Scd2MergeTest, RandomBatchesMatchTheBruteForce) { random_batches(6); }

/// The same on a two-column natural key (text, bigint) with one attribute, lab_events' shape.
class Scd2MergeTwoColumnKeyTest : public Scd2MergeTest {
protected:
    Scd2MergeTwoColumnKeyTest() { shape_ = store_product(); }
};

TEST_F(Scd2MergeTwoColumnKeyTest, RandomBatchesMatchTheBruteForce) { random_batches(4); }

TEST_F(Scd2MergeTest, TwoMergesInOneTransactionAndAReplayedBatch) {
    std::mt19937_64 rng(42);
    const std::vector<Event> events = random_events(rng, 120, 2, 20);
    const std::vector<Event> first(events.begin(), events.begin() + 60), second(events.begin() + 60, events.end());
    conn_->exec(kBeginReadCommitted);
    write(first, false);
    write(second, true);
    expect_matches_oracle(events, "two merges in one transaction");
    // A batch replayed after a crash in the middle of nothing: its observations are stored
    // already and change nothing; its facts (new ids here) find the same versions.
    std::vector<Event> replay = first;
    for (auto& e : replay) e.id += 1000;
    conn_->exec(kBeginReadCommitted);
    write(replay);
    std::vector<Event> all = events;
    all.insert(all.end(), replay.begin(), replay.end());
    expect_matches_oracle(all, "replayed batch");
}

TEST_F(Scd2MergeTest, ALateObservationEqualToItsNeighboursRewritesNothing) {
    auto obs = [](std::int64_t id, int second, int price) { return Event{id, "item_1", kBaseUs + second * 1000000LL, Values{price, "a"}}; };
    conn_->exec(kBeginReadCommitted);
    write({obs(1, 10, 9), obs(2, 20, 10), obs(3, 30, 9), {4, "item_1", kBaseUs + 25 * 1000000LL, std::nullopt}});
    const std::string rows = "SELECT string_agg(xmin::text || ':' || lab_item_key, ',' ORDER BY valid_from) FROM dim_lab_item";
    const std::string facts = "SELECT string_agg(xmin::text, ',' ORDER BY event_id) FROM fact_lab_event";
    const std::string before = PQgetvalue(conn_->exec(rows).get(), 0, 0), facts_before = PQgetvalue(conn_->exec(facts).get(), 0, 0);
    conn_->exec(kBeginReadCommitted);
    write({obs(5, 15, 9), obs(6, 25, 10), obs(7, 5, 9)});
    EXPECT_EQ(PQgetvalue(conn_->exec(rows).get(), 0, 0), before);
    EXPECT_EQ(std::string(PQgetvalue(conn_->exec(facts).get(), 0, 0)).substr(0, facts_before.size()), facts_before);
    expect_matches_oracle({obs(1, 10, 9), obs(2, 20, 10), obs(3, 30, 9), {4, "item_1", kBaseUs + 25 * 1000000LL, std::nullopt},
                                   obs(5, 15, 9), obs(6, 25, 10), obs(7, 5, 9)}, "equal late observations");
}

TEST_F(Scd2MergeTest, AnInferredMemberKeepsItsKeyWhenFirstObserved) {
    conn_->exec(kBeginReadCommitted);
    write({{1, "item_7", kBaseUs, std::nullopt}});
    const std::string key = PQgetvalue(conn_->exec("SELECT lab_item_key FROM dim_lab_item").get(), 0, 0);
    conn_->exec(kBeginReadCommitted);
    write({{2, "item_7", kBaseUs + 5000000, Values{10, "b"}}});
    const auto stored = stored_versions(*conn_, shape_);
    ASSERT_EQ(stored.at("item_7").size(), 1u);
    EXPECT_EQ(std::to_string(stored.at("item_7")[0].key), key);
    EXPECT_EQ(stored.at("item_7")[0].version.values, (Values{10, "b"}));
}

/// Sequential scans of, and rows inserted, updated and deleted in, `table`, as counted by the
/// statistics of this backend not yet flushed (pg_stat_xact_user_tables: a flush happens only
/// between transactions, so a difference taken inside one transaction counts its work alone).
struct TableActivity {
    std::int64_t seq_scan = 0, inserted = 0, updated = 0, deleted = 0;
    TableActivity operator-(const TableActivity& o) const { return {seq_scan - o.seq_scan, inserted - o.inserted, updated - o.updated, deleted - o.deleted}; }
};

TableActivity activity(PgConnection& conn, const std::string& table) {
    PgResult r = conn.exec_params("SELECT seq_scan, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables WHERE relname = $1", {table});
    if (PQntuples(r.get()) == 0) return {};
    return {std::atoll(PQgetvalue(r.get(), 0, 0)), std::atoll(PQgetvalue(r.get(), 0, 1)), std::atoll(PQgetvalue(r.get(), 0, 2)),
            std::atoll(PQgetvalue(r.get(), 0, 3))};
}

TEST_F(Scd2MergeTest, ALateObservationInALongHistoryStaysLocal) {
    // 20,000 observations of one key, one a second, the price changing every 1,000: 20 versions.
    std::vector<Event> history;
    for (int i = 0; i < 20000; ++i) history.push_back({i, "item_1", kBaseUs + i * 1000000LL, Values{9 + (i / 1000) % 2, "a"}});
    // And 5,000 other keys, referenced once: a dimension large enough for the planner to probe
    // its indexes rather than read it whole, as it would a production one.
    for (int i = 0; i < 5000; ++i) history.push_back({20000 + i, "item_" + std::to_string(1000 + i), kBaseUs, std::nullopt});
    conn_->exec(kBeginReadCommitted);
    write(history);
    conn_->exec("ANALYZE dim_lab_item; ANALYZE dim_lab_item_observation; ANALYZE fact_lab_event");
    ASSERT_EQ(stored_versions(*conn_, shape_).at("item_1").size(), 20u);  // and one for each other key

    // A late observation at 500.5 s with another price splits the first version in three; the
    // facts at 501..999 s move to the third piece, nothing else is read or written.
    const std::vector<Event> late = {{30000, "item_1", kBaseUs + 500500000LL, Values{11, "a"}}, {30001, "item_1", kBaseUs + 700000000LL, std::nullopt}};
    conn_->exec(kBeginReadCommitted);
    const TableActivity dim0 = activity(*conn_, "dim_lab_item"), obs0 = activity(*conn_, "dim_lab_item_observation"),
                        facts0 = activity(*conn_, "fact_lab_event");
    const auto start = std::chrono::steady_clock::now();
    write(late, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const TableActivity dim = activity(*conn_, "dim_lab_item") - dim0, obs = activity(*conn_, "dim_lab_item_observation") - obs0,
                        facts = activity(*conn_, "fact_lab_event") - facts0;
    conn_->exec("COMMIT");
    std::cout << "late observation in a 20,000-observation history: " << ms << " ms\n";
    EXPECT_EQ(dim.seq_scan + obs.seq_scan + facts.seq_scan, 0);
    EXPECT_EQ(obs.inserted, 1);
    EXPECT_EQ(dim.deleted, 1);    // the first version, cut short
    EXPECT_EQ(dim.inserted, 3);   // it again, the new price, the old price again
    EXPECT_EQ(facts.updated, 499);
    EXPECT_EQ(facts.inserted, 2);
    EXPECT_EQ(dim.updated + obs.updated + obs.deleted, 0);
    history.insert(history.end(), late.begin(), late.end());
    expect_matches_oracle(history, "long history");
}

// ---- concurrency -----------------------------------------------------------------------------

/// Blocks until some session waits for an advisory lock (the second merge queued behind the
/// first), or 10 s pass.
bool wait_for_lock_waiter(PgConnection& observer) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        PgResult r = observer.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (std::atoi(PQgetvalue(r.get(), 0, 0)) > 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void Scd2MergeTest::queued_rounds(int rounds, const Shape& b_shape, const std::function<Batches(std::uint64_t round)>& batches) {
    PgConnection other(settings_), observer(settings_);
    other.exec("SET TIME ZONE 'UTC'");
    std::vector<Event> written;
    for (std::uint64_t round = 1; round <= static_cast<std::uint64_t>(rounds); ++round) {
        const auto [a, b] = batches(round);
        conn_->exec(kBeginReadCommitted);
        write(a, false);
        std::atomic<bool> b_done{false};
        std::string b_error;
        std::thread second([&, &b = b] {
            try {
                other.exec(kBeginReadCommitted);
                write_batch(other, *merge_, b_shape, b);
            } catch (const std::exception& e) {
                b_error = e.what();
            }
            b_done = true;
        });
        const bool queued = wait_for_lock_waiter(observer);
        EXPECT_FALSE(b_done.load()) << "the second merge did not wait for the first";
        conn_->exec("COMMIT");
        second.join();
        ASSERT_TRUE(queued) << "round " << round << ": the second merge never waited on an advisory lock";
        ASSERT_EQ(b_error, "") << "round " << round;
        written.insert(written.end(), a.begin(), a.end());
        written.insert(written.end(), b.begin(), b.end());
        expect_matches_oracle(written, "queued round " + std::to_string(round));
        if (HasFatalFailure() || HasNonfatalFailure()) return;
    }
}

TEST_F(Scd2MergeTest, ConcurrentMergesOfTheSameKeysKeepTheTiling) {
    // B's keys are listed in another order than A's: the sorted lock order keeps them from deadlocking.
    queued_rounds(5, shape_, [](std::uint64_t round) {
        std::mt19937_64 rng(100 + round);
        std::vector<Event> a = random_events(rng, 40, 2, 30), b = random_events(rng, 40, 2, 30);
        for (auto& e : a) e.id += static_cast<std::int64_t>(round * 1000);
        for (auto& e : b) e.id += static_cast<std::int64_t>(round * 1000 + 500);
        return Batches{a, std::vector<Event>(b.rbegin(), b.rend())};
    });
}

TEST_F(Scd2MergeTest, FreeRunningWritersOfTheSameKeysKeepTheTiling) {
    // Two writers, each its own connection, committing random batches of the same three keys as
    // fast as they can: whatever interleaving the server picks, the result is the brute force's.
    std::vector<Event> all[2];
    std::string errors[2];
    auto writer = [&](int w) {
        try {
            PgConnection conn(settings_);
            conn.exec("SET TIME ZONE 'UTC'");
            std::mt19937_64 rng(7 + static_cast<std::uint64_t>(w));
            std::vector<Event> events = random_events(rng, 300, 3, 40);
            for (auto& e : events) e.id += w * 100000;
            for (std::size_t at = 0; at < events.size();) {
                const std::size_t size = std::min<std::size_t>(events.size() - at, 1 + rng() % 20);
                const std::vector<Event> batch(events.begin() + static_cast<long>(at), events.begin() + static_cast<long>(at + size));
                conn.exec(kBeginReadCommitted);
                write_batch(conn, *merge_, shape_, batch);
                at += size;
            }
            all[w] = events;
        } catch (const std::exception& e) {
            errors[w] = e.what();
        }
    };
    std::thread first(writer, 0), second(writer, 1);
    first.join(), second.join();
    ASSERT_EQ(errors[0] + errors[1], "");
    std::vector<Event> written = all[0];
    written.insert(written.end(), all[1].begin(), all[1].end());
    expect_matches_oracle(written, "free-running writers");
}

TEST(Scd2MergeOfTheLabSpec, LateObservationsMoveTheLabFacts) {
    // The descriptor the lab_events spec makes (single numeric attribute, event time in a
    // column named "timestamp"), on tables shaped as the spec's.
    const auto dims = scd2_dimensions({spec::read_pipeline_spec(std::string(STARSTREAM_SOURCE_DIR) + "/pipelines/lab_events.yaml")});
    ASSERT_EQ(dims.size(), 1u);
    const Scd2Merge merge(dims[0]);
    PgSettings settings;
    settings.dsn = test::LocalPostgresServer::shared().create_database("scd2_lab_spec");
    PgConnection conn(settings);
    conn.exec("SET TIME ZONE 'UTC'");
    conn.exec(scd2_schema_sql(dims[0]) + "CREATE TABLE fact_lab_event (lab_item_key bigint NOT NULL, event_id bigint PRIMARY KEY, \"timestamp\" timestamptz NOT NULL);"
                                         "CREATE INDEX ON fact_lab_event (lab_item_key, \"timestamp\");");
    auto batch = [&](const std::vector<std::pair<int, Scd2Event>>& events) {
        std::vector<Scd2Event> merged;
        for (const auto& [id, e] : events) merged.push_back(e);
        conn.exec(kBeginReadCommitted);
        const auto keys = merge.merge(conn, merged);
        for (std::size_t i = 0; i < keys.size(); ++i)
            conn.exec_params("INSERT INTO fact_lab_event VALUES ($1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 microsecond')",
                             {std::to_string(keys[i]), std::to_string(events[i].first), std::to_string(events[i].second.time_us)});
        conn.exec("COMMIT");
    };
    const std::int64_t s = 1000000;
    batch({{1, {{"item_1"}, std::vector<std::string>{"9.50"}, kBaseUs + 10 * s}}, {2, {{"item_1"}, std::nullopt, kBaseUs + 5 * s}}});
    batch({{3, {{"item_1"}, std::vector<std::string>{"10"}, kBaseUs + 7 * s}}, {4, {{"item_1"}, std::nullopt, kBaseUs + 12 * s}}});
    // Observations at 7 s (10) and 10 s (9.50): the first version, from -infinity, holds 10.
    PgResult r = conn.exec("SELECT string_agg(f.event_id || '=' || d.price || '@' || d.valid_from::text, ' ' ORDER BY f.event_id)"
                           " FROM fact_lab_event f JOIN dim_lab_item d USING (lab_item_key)");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "1=9.50@2026-01-01 00:00:10+00 2=10@-infinity 3=10@-infinity 4=9.50@2026-01-01 00:00:10+00");
}

}  // namespace
}  // namespace starstream::daemon::postgres

namespace starstream::daemon::postgres {
namespace {

/// Two instances merging the same numeric key spelled "1.0" and "1" take the same advisory lock
/// (the key's hash is PostgreSQL's hash of the typed value, not of its text): the second waits
/// for the first instead of racing it into the dimension's unique index (23505).
class Scd2MergeNumericKeyTest : public Scd2MergeTest {
protected:
    Scd2MergeNumericKeyTest() { shape_ = numeric_item(".0"); }
};

TEST_F(Scd2MergeNumericKeyTest, SpellingsOfOneKeyTakeOneLock) {
    // A spells its keys "N.0" (the fixture's shape), B "N"; new members each round.
    queued_rounds(3, numeric_item(""), [](std::uint64_t round) {
        std::mt19937_64 rng(200 + round);
        std::vector<Event> a = random_events(rng, 30, 2, 30), b = random_events(rng, 30, 2, 30);
        for (auto* batch : {&a, &b})
            for (auto& e : *batch) {
                e.id += static_cast<std::int64_t>(round * 1000 + (batch == &b ? 500 : 0));
                e.key = "item_" + std::to_string(round * 10 + static_cast<std::uint64_t>(e.key.back() - '0'));
            }
        return Batches{a, b};
    });
}

}  // namespace
}  // namespace starstream::daemon::postgres
