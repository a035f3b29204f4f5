// SCD type 1 and type 0 dimensions of a spec (SpecBatchWriter) against a real PostgreSQL,
// compared with a brute force: random observations of a few members (labels where byte order is
// not a locale's, sizes whose text order is not their numeric order, either missing at times;
// event times at whole seconds, so that ties are frequent), delivered in random order and random
// batches by two writers (two instances). A member's attributes must be those of its greatest
// observation, (event time, attributes) compared time first, then each attribute as (has a
// value, its text bytewise): the same whatever the arrival order, batch boundaries or instance.
#include "sink/postgres/spec_batch_writer.h"

#include "keyed_rows.h"
#include "local_postgres_server.h"
#include "spec_database.h"
#include "sink/postgres/pg_connection.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <tuple>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kSecondUs = 1000000;
constexpr std::int64_t kBaseUs = 1767225600LL * kSecondUs;  // 2026-01-01 UTC

const std::string kSpec = R"yaml(pipeline: shop
source: {topics: [shop], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  item: {pointer: /item, type: text, required: true}
  label: {pointer: /label, type: text}
  size: {pointer: /size, type: integer}
  code: {pointer: /code, type: text, required: true}
  level: {pointer: /level, type: text}
event: {id: id, time: at}
dimensions:
  dim_item: {key: [item], attributes: [label, size]}
  dim_code: {key: [code], attributes: [level], policy: scd0}
  dim_derived_code: {key: [code], attributes: [level], policy: derived}
facts:
  fact_shop: {grain: event, dimensions: [dim_item, dim_code, dim_derived_code], columns: [id, at]}
)yaml";

struct Observation {
    std::string id, item;
    std::int64_t time_us = 0;
    std::optional<std::string> label;
    std::optional<std::int64_t> size;
};

using Row = std::vector<std::string>;
using starstream::test::keyed_rows;

// ---- the brute force -------------------------------------------------------------------------

/// An observation's rank: its time, then each attribute as (has a value, its text).
auto rank(const Observation& o) {
    return std::make_tuple(o.time_us, o.label.has_value(), o.label.value_or(""), o.size.has_value(),
                           o.size ? std::to_string(*o.size) : std::string());
}

/// {item}: {label, size, attributes_event_time in microseconds}, "" for NULL.
std::map<Row, Row> oracle(const std::vector<Observation>& observations) {
    std::map<std::string, const Observation*> best;
    for (const Observation& o : observations) {
        const Observation*& b = best[o.item];
        if (!b || rank(*b) < rank(o)) b = &o;
    }
    std::map<Row, Row> out;
    for (const auto& [item, o] : best) out[{item}] = {o->label.value_or(""), o->size ? std::to_string(*o->size) : "", std::to_string(o->time_us)};
    return out;
}

// ---- the database ----------------------------------------------------------------------------

constexpr const char* kItemsSql = "SELECT item, label, size::text, (extract(epoch FROM attributes_event_time) * 1000000)::bigint FROM dim_item";

class SpecScd1DimensionTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string database;
        for (char c : std::string(test->name())) database += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
        database = "scd1_" + database.substr(0, 50);
        settings_.dsn = test::LocalPostgresServer::shared().create_database(database);
        PgConnection conn(settings_);
        test::migrate_as_the_daemon(conn, spec_);
        // A label collation whose order is not byte order ("a" < "B"), as a database's default
        // may be: the merge must compare bytes whatever the column's collation.
        conn.exec("ALTER TABLE dim_item ALTER COLUMN label TYPE text COLLATE \"und-x-icu\"");
        reader_ = std::make_unique<PgConnection>(settings_);
        reader_->exec("SET TIME ZONE 'UTC'");
    }

    std::unique_ptr<SpecBatchWriter> writer(const std::string& instance) {
        return std::make_unique<SpecBatchWriter>(settings_, spec_, std::vector<spec::PipelineSpec>{spec_}, instance);
    }

    /// One micro-batch through `w`, committed; `code` names each record's dim_code member and
    /// `level` its attribute (by default a function of the item).
    void write(SpecBatchWriter& w, const std::vector<Observation>& observations, const std::string& level_prefix = "level of ") {
        spec::SpecBatch batch;
        batch.topics = {"shop"};
        batch.batch_id = next_batch_id_++;
        for (const Observation& o : observations) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(o.id);
            row.values[layout_.at("at")] = o.time_us;
            row.values[layout_.at("item")] = batch.text(o.item);
            if (o.label) row.values[layout_.at("label")] = batch.text(*o.label);
            if (o.size) row.values[layout_.at("size")] = *o.size;
            row.values[layout_.at("code")] = batch.text("code of " + o.item);
            row.values[layout_.at("level")] = batch.text(level_prefix + o.item);
            row.event_time_us = o.time_us;
            batch.min_event_time_us = std::min(batch.min_event_time_us, o.time_us);
            batch.max_event_time_us = std::max(batch.max_event_time_us, o.time_us);
            batch.rows.push_back(std::move(row));
        }
        batch.records = batch.rows.size();
        w.write(batch);
    }

    /// Rewrites of dim_item's rows show as new xmins: {item: xmin}.
    std::map<Row, Row> row_versions(const std::string& table, const std::string& key) {
        return keyed_rows(*reader_, "SELECT " + key + ", xmin::text FROM " + table, 1);
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "shop.yaml");
    const spec::ReferenceLayout layout_{spec_};
    PgSettings settings_;
    std::unique_ptr<PgConnection> reader_;
    std::atomic<std::int64_t> next_batch_id_{1};
};

/// Observations of `items` items at whole seconds in [0, seconds): labels where byte order
/// differs from a locale's ("B" < "a" < "b" < "ä"), sizes whose text order is not numeric
/// ("10" < "9"), each missing at times; a tenth repeat an earlier one's time and values under a
/// new id; shuffled, so that arrival order is not event-time order.
std::vector<Observation> random_observations(std::mt19937_64& rng, int count, int items, int seconds, const std::string& prefix) {
    static const char* const labels[] = {"a", "B", "b", "\xc3\xa4"};
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    std::vector<Observation> out;
    for (int i = 0; i < count; ++i) {
        if (!out.empty() && pick(10) == 0) {
            Observation again = out[static_cast<std::size_t>(pick(static_cast<int>(out.size())))];
            again.id = prefix + std::to_string(i);
            out.push_back(again);
            continue;
        }
        Observation o{prefix + std::to_string(i), "item_" + std::to_string(pick(items)), kBaseUs + pick(seconds) * kSecondUs, std::nullopt,
                      std::nullopt};
        if (pick(5)) o.label = labels[pick(4)];
        if (pick(5)) o.size = 9 + pick(3);
        out.push_back(o);
    }
    std::shuffle(out.begin(), out.end(), rng);
    return out;
}

TEST_F(SpecScd1DimensionTest, RandomOrdersAndBatchesOfTwoInstancesMatchTheBruteForce) {
    std::unique_ptr<SpecBatchWriter> instances[2] = {writer("one"), writer("two")};
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        reader_->exec("TRUNCATE dim_item, dim_code, fact_shop");
        std::mt19937_64 rng(seed);
        const std::vector<Observation> observations = random_observations(rng, 240, 4, 30, "s" + std::to_string(seed) + "_");
        std::vector<Observation> written;
        for (std::size_t at = 0; at < observations.size();) {
            const std::size_t size = std::min<std::size_t>(observations.size() - at, 1 + rng() % 25);
            const std::vector<Observation> batch(observations.begin() + static_cast<long>(at), observations.begin() + static_cast<long>(at + size));
            write(*instances[rng() % 2], batch);
            written.insert(written.end(), batch.begin(), batch.end());
            at += size;
            ASSERT_EQ(keyed_rows(*reader_, kItemsSql, 1), oracle(written)) << "seed " << seed << " after " << at << " observations";
        }
    }
}

TEST_F(SpecScd1DimensionTest, FreeRunningInstancesMatchTheBruteForce) {
    // Two instances committing random batches of the same members as fast as they can: whatever
    // interleaving the server picks (an older observation committed last included), the result
    // is the brute force's. Each round starts both on members neither has seen, at once, so that
    // both insert the same new member concurrently (run_member_merge's race) many times a run.
    constexpr int kRounds = 12;
    std::vector<Observation> all[2];
    std::string errors[2];
    std::barrier round_start(2);
    auto run = [&](int w) {
        try {
            auto instance = writer(w ? "two" : "one");
            std::mt19937_64 rng(11 + static_cast<std::uint64_t>(w));
            for (int round = 0; round < kRounds; ++round) {
                std::vector<Observation> observations = random_observations(rng, 40, 4, 40, "w" + std::to_string(w) + "_r" + std::to_string(round) + "_");
                for (Observation& o : observations) o.item = "round_" + std::to_string(round) + "_" + o.item;
                round_start.arrive_and_wait();
                for (std::size_t at = 0; at < observations.size();) {
                    const std::size_t size = std::min<std::size_t>(observations.size() - at, 1 + rng() % 20);
                    write(*instance, std::vector<Observation>(observations.begin() + static_cast<long>(at), observations.begin() + static_cast<long>(at + size)));
                    at += size;
                }
                all[w].insert(all[w].end(), observations.begin(), observations.end());
            }
        } catch (const std::exception& e) {
            errors[w] = e.what();
            round_start.arrive_and_drop();
        }
    };
    std::thread first(run, 0), second(run, 1);
    first.join(), second.join();
    ASSERT_EQ(errors[0] + errors[1], "");
    std::vector<Observation> written = all[0];
    written.insert(written.end(), all[1].begin(), all[1].end());
    EXPECT_EQ(keyed_rows(*reader_, kItemsSql, 1), oracle(written));
}

TEST_F(SpecScd1DimensionTest, AnOlderObservationLoadedLaterChangesNothing) {
    auto w = writer("one");
    const Observation latest{"e1", "item_1", kBaseUs + 13 * 3600 * kSecondUs, "nova", 10};
    const Observation older{"e2", "item_1", kBaseUs + 9 * 3600 * kSecondUs, "orbit", 9};
    write(*w, {latest});
    const auto before = row_versions("dim_item", "item");
    write(*w, {older});   // a backfill: older, other values
    write(*w, {latest});  // a replay: the observation in force again
    EXPECT_EQ(row_versions("dim_item", "item"), before) << "rewritten";
    EXPECT_EQ(keyed_rows(*reader_, kItemsSql, 1), oracle({latest, older}));
}

TEST_F(SpecScd1DimensionTest, TheTimeAdvancesWithEqualValues) {
    // 10:00 "a", 12:00 "a", then 11:00 "b" arrives: "a" stays, as its time is 12:00, not 10:00.
    auto w = writer("one");
    const Observation ten{"e1", "item_1", kBaseUs + 10 * 3600 * kSecondUs, "a", 9}, twelve{"e2", "item_1", kBaseUs + 12 * 3600 * kSecondUs, "a", 9},
        eleven{"e3", "item_1", kBaseUs + 11 * 3600 * kSecondUs, "b", 9};
    write(*w, {ten});
    write(*w, {twelve});
    write(*w, {eleven});
    EXPECT_EQ(keyed_rows(*reader_, kItemsSql, 1), (std::map<Row, Row>{{{"item_1"}, {"a", "9", std::to_string(twelve.time_us)}}}));
}

TEST_F(SpecScd1DimensionTest, ARowWithoutATimeLosesToAnyObservation) {
    // A row written before attributes_event_time existed holds NULL there.
    reader_->exec("INSERT INTO dim_item (item_key, item, label, size) VALUES (1, 'item_1', 'zzz', 11)");
    auto w = writer("one");
    const Observation old{"e1", "item_1", kBaseUs, std::nullopt, std::nullopt};
    write(*w, {old});
    EXPECT_EQ(keyed_rows(*reader_, kItemsSql, 1), oracle({old}));
}

TEST_F(SpecScd1DimensionTest, ScdType0KeepsTheMemberAsFirstInserted) {
    auto w = writer("one");
    const Observation o{"e1", "item_1", kBaseUs + 10 * kSecondUs, "a", 9}, later{"e2", "item_1", kBaseUs + 20 * kSecondUs, "a", 9};
    write(*w, {o}, "first ");
    const auto before = row_versions("dim_code", "code");
    write(*w, {later}, "second ");  // not a function of the key here: shows that nothing is rewritten
    EXPECT_EQ(row_versions("dim_code", "code"), before);
    EXPECT_EQ(keyed_rows(*reader_, "SELECT code, level FROM dim_code", 1), (std::map<Row, Row>{{{"code of item_1"}, {"first item_1"}}}));
    PgResult columns = reader_->exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 'dim_code' AND column_name = 'attributes_event_time'");
    EXPECT_STREQ(PQgetvalue(columns.get(), 0, 0), "0");
}

TEST_F(SpecScd1DimensionTest, DerivedAttributesAreCorrectedInPlaceOnlyWhenTheyDiffer) {
    // `derived`: values the pipeline computes from the key; newer reference data (here the
    // level's prefix) corrects a member as it reappears, whatever its event time, and values
    // that did not change rewrite nothing.
    auto w = writer("one");
    const Observation o{"e1", "item_1", kBaseUs + 20 * kSecondUs, "a", 9}, again{"e2", "item_1", kBaseUs + 30 * kSecondUs, "a", 9},
        older{"e3", "item_1", kBaseUs + 10 * kSecondUs, "a", 9};
    write(*w, {o}, "parse v1 ");
    const auto before = row_versions("dim_derived_code", "code");
    write(*w, {again}, "parse v1 ");
    EXPECT_EQ(row_versions("dim_derived_code", "code"), before);
    write(*w, {older}, "parse v2 ");
    EXPECT_EQ(keyed_rows(*reader_, "SELECT code, level FROM dim_derived_code", 1), (std::map<Row, Row>{{{"code of item_1"}, {"parse v2 item_1"}}}));
    PgResult columns = reader_->exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 'dim_derived_code' AND column_name = 'attributes_event_time'");
    EXPECT_STREQ(PQgetvalue(columns.get(), 0, 0), "0");
}

}  // namespace
}  // namespace starstream::daemon::postgres
