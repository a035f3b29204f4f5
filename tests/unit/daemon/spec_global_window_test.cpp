// Global windows, mode, and a window's derived view against a real PostgreSQL, compared with a
// brute force: random records (tags from a small set where byte order is not the locale's, some
// empty or NULL, so that modes tie often; integers tying too) merged by two SpecWindowWriters on
// two connections (two instances) in random batches, some records not counted (their fact was not
// new: a duplicate); after every batch each profile row, each mode of a 20 s tumbling window, and the
// view's derived and segment columns must equal what the counted records merged so far give.
#include "sink/postgres/spec_window_writer.h"

#include "keyed_rows.h"
#include "local_postgres_server.h"
#include "spec_database.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/window_lock.h"  // kBeginReadCommitted
#include "spec/enricher_runtime.h"
#include "spec/spec_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kSecondUs = 1000000;
constexpr std::int64_t kBaseUs = 1767225600LL * kSecondUs;  // 2026-01-01 UTC

const std::string kSpec = R"yaml(pipeline: crowd
source: {topics: [crowd], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  user: {pointer: /user, type: text, required: true}
  kind: {pointer: /kind, type: text, required: true}
  tag: {pointer: /tag, type: text}
  n: {pointer: /n, type: integer}
event: {id: id, time: at}
facts:
  fact_crowd: {grain: event, columns: [id, user, kind, tag, n]}
windows:
  crowd_profile:
    global: true
    group_by: [user]
    aggregates:
      events: count
      buys: {function: count, where: {kind: buy}}
      spent: {function: sum, of: n, where: {kind: buy}}
      tags: count_distinct(tag)
      top_tag: mode(tag)
      top_n: mode(n)
      top_bought_tag: {function: mode, of: tag, where: {kind: buy}}
      first_tag: first(tag)
    view: crowd_profile_view
    derived:
      spend: "coalesce(spent, 0)"
      buy_share: "buys::numeric / nullif(events, 0)"
    segments:
      column: segment
      rules:
        - {name: Big, when: "buys >= 3 and spend >= 20"}
        - {name: Buyer, when: "buys >= 1"}
        - {name: Looker}
  crowd_20s:
    tumbling: 20s
    group_by: [kind]
    aggregates: {top_tag: mode(tag)}
    late: {policy: correct, allowed_lateness: 1d}
)yaml";

struct Record {
    std::string id;
    std::int64_t time_us = 0;
    std::string user, kind;
    std::optional<std::string> tag;
    std::optional<std::int64_t> n;
    bool counted = true;  ///< false: its fact was not new (a duplicate), it must count nowhere
};

using Row = std::vector<std::string>;
using starstream::test::keyed_rows;

// ---- the brute force -------------------------------------------------------------------------

/// The most frequent non-empty value, a tie going to the smallest (`less`); "" when none.
template <typename T, typename Less = std::less<T>>
std::string mode(const std::vector<std::optional<T>>& values, std::string (*text)(const T&), Less less = {}) {
    std::map<T, int, Less> counts(less);
    for (const auto& v : values)
        if (v && !text(*v).empty()) ++counts[*v];
    const T* best = nullptr;
    int best_n = 0;
    for (const auto& [v, n] : counts)  // ascending: a later value wins only with more occurrences
        if (n > best_n) best = &v, best_n = n;
    return best ? text(*best) : "";
}

std::string as_text(const std::string& s) { return s; }
std::string int_text(const std::int64_t& n) { return std::to_string(n); }

std::map<Row, Row> profile_oracle(const std::vector<Record>& records) {
    std::map<std::string, std::vector<const Record*>> users;
    for (const Record& r : records)
        if (r.counted) users[r.user].push_back(&r);
    std::map<Row, Row> out;
    for (const auto& [user, rs] : users) {
        std::int64_t buys = 0, spent = 0;
        bool any_spent = false;
        std::set<std::string> tags;
        std::vector<std::optional<std::string>> all_tags, bought_tags;
        std::vector<std::optional<std::int64_t>> ns;
        const Record* first = nullptr;
        for (const Record* r : rs) {
            if (r->kind == "buy") {
                ++buys;
                if (r->n) spent += *r->n, any_spent = true;
                bought_tags.push_back(r->tag);
            }
            if (r->tag) tags.insert(*r->tag);
            all_tags.push_back(r->tag), ns.push_back(r->n);
            // first (spec_first_last.h): the earliest record, a tie to the least tag, NULL the least.
            auto order = [](const Record* x) { return std::make_tuple(x->time_us, x->tag.has_value(), x->tag.value_or("")); };
            if (!first || order(r) < order(first)) first = r;
        }
        const std::int64_t spend = any_spent ? spent : 0;
        const std::string segment = buys >= 3 && spend >= 20 ? "Big" : buys >= 1 ? "Buyer" : "Looker";
        out[{user}] = {std::to_string(rs.size()), std::to_string(buys), any_spent ? std::to_string(spent) : "", std::to_string(tags.size()),
                       mode(all_tags, as_text), mode(ns, int_text), mode(bought_tags, as_text), first ? first->tag.value_or("") : "",
                       std::to_string(spend), fmt::format("{:.6f}", static_cast<double>(buys) / static_cast<double>(rs.size())), segment};
    }
    return out;
}

std::map<Row, Row> tumbling_oracle(const std::vector<Record>& records) {
    std::map<Row, std::vector<std::optional<std::string>>> windows;
    for (const Record& r : records)
        if (r.counted) windows[{std::to_string(r.time_us / (20 * kSecondUs) * 20 * kSecondUs), r.kind}].push_back(r.tag);
    std::map<Row, Row> out;
    for (const auto& [key, tags] : windows) out[key] = {mode(tags, as_text)};
    return out;
}

// ---- the database ----------------------------------------------------------------------------

constexpr const char* kProfileSql = R"(SELECT "user", events, buys, spent, tags, top_tag, top_n, top_bought_tag, first_tag,
    spend, round(buy_share, 6), segment FROM crowd_profile_view)";
constexpr const char* kTumblingSql = "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, kind, top_tag FROM crowd_20s";

/// One instance: its own connection and writer.
struct Instance {
    std::unique_ptr<PgConnection> conn;
    BinaryCopyWriter copy;
    std::unique_ptr<SpecWindowWriter> windows;
};

class SpecGlobalWindowTest : public ::testing::Test {
protected:
    void SetUp() override {
        settings_.dsn = test::LocalPostgresServer::shared().create_database("spec_global_window");
        PgConnection conn(settings_);
        test::migrate_as_the_daemon(conn, spec_);
        for (auto& i : instances_) {
            i.conn = std::make_unique<PgConnection>(settings_);
            i.conn->exec("SET TIME ZONE 'UTC'");
            i.windows = std::make_unique<SpecWindowWriter>(*i.conn, i.copy, spec_, layout_, std::vector<std::string>{});
        }
    }

    void write(Instance& instance, const std::vector<Record>& records) {
        spec::SpecBatch batch;
        batch.topics = {"crowd"};
        std::vector<bool> counted;
        for (const Record& r : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(r.id);
            row.values[layout_.at("at")] = r.time_us;
            row.values[layout_.at("user")] = batch.text(r.user);
            row.values[layout_.at("kind")] = batch.text(r.kind);
            if (r.tag) row.values[layout_.at("tag")] = batch.text(*r.tag);
            if (r.n) row.values[layout_.at("n")] = *r.n;
            row.event_time_us = r.time_us;
            batch.rows.push_back(std::move(row));
            counted.push_back(r.counted);
        }
        instance.conn->exec(kBeginReadCommitted);
        instance.windows->write(batch, 0, batch.rows.size(), {}, counted);
        instance.conn->exec("COMMIT");
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "crowd.yaml");
    const spec::ReferenceLayout layout_{spec_};
    PgSettings settings_;
    Instance instances_[2];
};

/// Records over 60 s at whole seconds, 5 users, tags where byte order differs from a locale's
/// ("B" < "a" < "b" < "ä"), some empty (not a value) or absent, n among few integers (negative
/// too, so that text order is not numeric order), a fifth not counted; shuffled.
std::vector<Record> random_records(std::mt19937_64& rng, int count) {
    static const char* const tags[] = {"a", "B", "b", "\xc3\xa4", "", "10", "9"};
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    std::vector<Record> out;
    for (int i = 0; i < count; ++i) {
        Record r{"e" + std::to_string(i), kBaseUs + pick(60) * kSecondUs, "u" + std::to_string(pick(5)), pick(3) ? "look" : "buy",
                 std::nullopt, std::nullopt, pick(5) != 0};
        if (pick(6)) r.tag = tags[pick(7)];
        if (pick(4)) r.n = pick(7) - 2;
        out.push_back(r);
    }
    std::shuffle(out.begin(), out.end(), rng);
    return out;
}

TEST_F(SpecGlobalWindowTest, TwoInstancesInRandomBatchesMatchTheBruteForce) {
    PgConnection reader(settings_);
    reader.exec("SET TIME ZONE 'UTC'");
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        reader.exec("TRUNCATE crowd_profile, crowd_profile_tags_members, crowd_profile_top_tag_counts, crowd_profile_top_n_counts,"
                    " crowd_profile_top_bought_tag_counts, crowd_20s, crowd_20s_top_tag_counts");
        std::mt19937_64 rng(seed);
        const std::vector<Record> records = random_records(rng, 240);
        std::vector<Record> written;
        for (std::size_t at = 0; at < records.size();) {
            const std::size_t size = std::min<std::size_t>(records.size() - at, 1 + rng() % 25);
            const std::vector<Record> batch(records.begin() + static_cast<long>(at), records.begin() + static_cast<long>(at + size));
            write(instances_[rng() % 2], batch);
            written.insert(written.end(), batch.begin(), batch.end());
            at += size;
            const std::string context = "seed " + std::to_string(seed) + " after " + std::to_string(at) + " records";
            ASSERT_EQ(keyed_rows(reader, kProfileSql, 1), profile_oracle(written)) << context;
            ASSERT_EQ(keyed_rows(reader, kTumblingSql, 2), tumbling_oracle(written)) << context;
        }
    }
}

TEST_F(SpecGlobalWindowTest, TheProfileTableIsKeyedByItsGroupAlone) {
    PgConnection reader(settings_);
    PgResult r = reader.exec(
        "SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE i.indrelid = 'crowd_profile'::regclass AND i.indisprimary");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "user");
    PgResult columns = reader.exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 'crowd_profile' AND column_name LIKE 'window_%'");
    EXPECT_STREQ(PQgetvalue(columns.get(), 0, 0), "0");
}

}  // namespace
}  // namespace starstream::daemon::postgres
