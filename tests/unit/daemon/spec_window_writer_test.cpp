// The spec windows' avg, first, last and any against a real PostgreSQL, compared with a brute
// force: random records (integer, double and text values, some NULL, whole seconds so that
// event times tie between different values and NULLs) merged by SpecWindowWriter in random
// batches and arrival order into hopping and cumulative tables; after every batch each stored
// row (the values and their state columns) must equal what the records merged so far give,
// whatever the batch boundaries. first/last follow the tie rule of spec_first_last.h (the
// sessions' too): at one event time the least/greatest value, NULL the least, compared as
// values of their type (10 after 9).
// The counting tables (count, filtered counts, count_distinct of text) take the fast path of
// spec_window_cells.h: random batches meet both cells new to their table (copied straight in)
// and cells stored by an earlier batch (merged by the statement), with records hostile to a fold
// in memory: text groups and members NULL now and then, members sent as text or as numbers
// ("42" both ways: one member), members longer than a short string, a cumulative table (its end
// is part of its key) and a hopping one. Then the case only the fast path gets right: a cell
// deleted by hand, its members left.
#include "sink/postgres/spec_window_writer.h"

#include "keyed_rows.h"
#include "sink/postgres/pg_connection.h"
#include "spec_database.h"
#include "sink/postgres/window_lock.h"  // kBeginReadCommitted
#include "spec/enricher_runtime.h"
#include "spec/spec_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kSecondUs = 1000000;
constexpr std::int64_t kBaseUs = 1767225600LL * kSecondUs;  // 2026-01-01 UTC

const std::string kSpec = R"(pipeline: shop
source: {topics: [shop], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  kind: {pointer: /kind, type: text, required: true}
  n: {pointer: /n, type: integer}
  x: {pointer: /x, type: double}
  tag: {pointer: /tag, type: text}
  device: {pointer: /device, type: text}
event: {id: id, time: at}
facts:
  fact_shop: {grain: event, columns: [id, kind, n]}
windows:
  win_hop:
    hopping: {size: 20s, slide: 10s}
    group_by: [kind]
    aggregates:
      avg_n: avg(n)
      avg_x: {function: avg, of: x, where: {kind: b}}
      first_n: first(n)
      last_x: last(x)
      seven: {function: any, where: {n: 7}}
  win_running:
    cumulative: {size: 40s, step: 10s}
    aggregates: {first_tag: first(tag), last_n: {function: last, of: n, where: {kind: a}}}
  win_tags:
    tumbling: 10s
    group_by: [kind, tag]
    aggregates:
      views: count
      with_x: {function: count, where: {x: {present: true}}}
      devices: count_distinct(device)
      bees: {function: count, where: {kind: b}}
  win_hop_devices:
    hopping: {size: 20s, slide: 10s}
    aggregates: {devices: count_distinct(device)}
  win_running_devices:
    cumulative: {size: 40s, step: 10s}
    group_by: [kind]
    aggregates: {devices: count_distinct(device), views: count}
)";

struct Record {
    std::string id;
    std::int64_t time_us = 0;
    std::string kind;
    std::optional<std::int64_t> n;
    std::optional<double> x;
    std::optional<std::string> tag;
    std::optional<std::string> device;
    bool device_as_number = false;  ///< sent as the integer the device's text spells
    bool counted = true;            ///< its fact is new (else a duplicate: the windows skip it)
};

/// The records whose fact is new: what the windows count.
std::vector<Record> counted_only(const std::vector<Record>& records) {
    std::vector<Record> out;
    for (const Record& r : records)
        if (r.counted) out.push_back(r);
    return out;
}

// ---- the brute force -------------------------------------------------------------------------

/// (value as text, "" for NULL; event time) of the first (or last) among the `records` that
/// `passes` accepts, by (event time, value) with a NULL value (nullopt) the least: std::optional's
/// own order, on the typed value; nullopt when no record passes.
template <typename Passes, typename Value>
std::optional<std::pair<std::string, std::int64_t>> chosen(const std::vector<Record>& records, bool first, Passes passes, Value value) {
    const Record* best = nullptr;
    for (const Record& r : records) {
        if (!passes(r)) continue;
        const auto key = std::make_pair(r.time_us, value(r));
        if (!best || (first ? key < std::make_pair(best->time_us, value(*best)) : key > std::make_pair(best->time_us, value(*best)))) best = &r;
    }
    if (!best) return std::nullopt;
    const auto v = value(*best);
    return std::make_pair(v ? fmt::format("{}", *v) : "", best->time_us);
}

bool every(const Record&) { return true; }

/// One window row as text, in the column order of the queries below ("" for NULL).
using Row = std::vector<std::string>;
using starstream::test::keyed_rows;

void add_chosen(Row& row, const std::optional<std::pair<std::string, std::int64_t>>& c) {
    row.push_back(c ? c->first : "");
    row.push_back(c ? std::to_string(c->second) : "");
}

/// avg's state and value: sum, count, and the quotient rounded to 9 decimals ("" for NULL).
template <typename Value>
void add_avg(Row& row, const std::vector<Record>& records, Value value) {
    double sum = 0;
    std::int64_t n = 0;
    for (const Record& r : records)
        if (auto v = value(r)) sum += *v, ++n;
    row.push_back(n ? fmt::format("{}", sum) : "");
    row.push_back(std::to_string(n));
    row.push_back(n ? fmt::format("{:.9f}", sum / static_cast<double>(n)) : "");
}

std::map<Row, Row> hopping_oracle(const std::vector<Record>& records) {
    std::map<Row, std::vector<Record>> windows;
    for (const Record& r : records) {
        const std::int64_t last = r.time_us / (10 * kSecondUs) * 10 * kSecondUs;  // starts k * 10 s with start <= t < start + 20 s
        for (std::int64_t start : {last - 10 * kSecondUs, last}) windows[{std::to_string(start), r.kind}].push_back(r);
    }
    std::map<Row, Row> out;
    for (const auto& [key, in] : windows) {
        Row row;
        add_avg(row, in, [](const Record& r) { return r.n ? std::optional<double>(static_cast<double>(*r.n)) : std::nullopt; });
        add_avg(row, in, [](const Record& r) { return r.kind == "b" ? r.x : std::nullopt; });
        add_chosen(row, chosen(in, true, every, [](const Record& r) { return r.n; }));
        add_chosen(row, chosen(in, false, every, [](const Record& r) { return r.x; }));
        row.push_back(std::any_of(in.begin(), in.end(), [](const Record& r) { return r.n == 7; }) ? "t" : "f");
        out[key] = row;
    }
    return out;
}

std::map<Row, Row> cumulative_oracle(const std::vector<Record>& records) {
    std::map<Row, std::vector<Record>> windows;
    for (const Record& r : records) {
        const std::int64_t start = r.time_us / (40 * kSecondUs) * 40 * kSecondUs;
        for (std::int64_t end = start + 10 * kSecondUs; end <= start + 40 * kSecondUs; end += 10 * kSecondUs)
            if (r.time_us < end) windows[{std::to_string(start), std::to_string(end)}].push_back(r);
    }
    std::map<Row, Row> out;
    for (const auto& [key, in] : windows) {
        Row row;
        add_chosen(row, chosen(in, true, every, [](const Record& r) { return r.tag; }));
        add_chosen(row, chosen(in, false, [](const Record& r) { return r.kind == "a"; }, [](const Record& r) { return r.n; }));
        out[key] = row;
    }
    return out;
}

/// Per window key: views, with_x, distinct devices, bees (each as the table's text).
struct Cell {
    std::int64_t views = 0, with_x = 0, bees = 0;
    std::set<std::string> devices;
};

void count(Cell& c, const Record& r) {
    ++c.views;
    if (r.x) ++c.with_x;
    if (r.kind == "b") ++c.bees;
    if (r.device) c.devices.insert(*r.device);
}

std::map<Row, Row> tags_oracle(const std::vector<Record>& records) {
    std::map<Row, Cell> cells;
    for (const Record& r : records)
        if (r.tag) count(cells[{std::to_string(r.time_us / (10 * kSecondUs) * 10 * kSecondUs), r.kind, *r.tag}], r);  // a NULL group: nowhere
    std::map<Row, Row> out;
    for (const auto& [key, c] : cells)
        out[key] = {std::to_string(c.views), std::to_string(c.with_x), std::to_string(c.devices.size()), std::to_string(c.bees)};
    return out;
}

std::map<Row, Row> hop_devices_oracle(const std::vector<Record>& records) {
    std::map<Row, Cell> cells;
    for (const Record& r : records) {
        const std::int64_t last = r.time_us / (10 * kSecondUs) * 10 * kSecondUs;
        for (std::int64_t start : {last - 10 * kSecondUs, last}) count(cells[{std::to_string(start)}], r);
    }
    std::map<Row, Row> out;
    for (const auto& [key, c] : cells) out[key] = {std::to_string(c.devices.size())};
    return out;
}

std::map<Row, Row> running_devices_oracle(const std::vector<Record>& records) {
    std::map<Row, Cell> cells;
    for (const Record& r : records) {
        const std::int64_t start = r.time_us / (40 * kSecondUs) * 40 * kSecondUs;
        for (std::int64_t end = start + 10 * kSecondUs; end <= start + 40 * kSecondUs; end += 10 * kSecondUs)
            if (r.time_us < end) count(cells[{std::to_string(start), std::to_string(end), r.kind}], r);
    }
    std::map<Row, Row> out;
    for (const auto& [key, c] : cells) out[key] = {std::to_string(c.devices.size()), std::to_string(c.views)};
    return out;
}

constexpr const char* kTagsSql =
    "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, kind, tag, views, with_x, devices, bees FROM win_tags";
constexpr const char* kHopDevicesSql = "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, devices FROM win_hop_devices";
constexpr const char* kRunningDevicesSql =
    "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, (extract(epoch FROM window_end) * 1000000)::bigint, kind, devices, views "
    "FROM win_running_devices";

// ---- the database ----------------------------------------------------------------------------

constexpr const char* kHoppingSql = R"(SELECT (extract(epoch FROM window_start) * 1000000)::bigint, kind,
    avg_n_sum, avg_n_count, round(avg_n, 9), avg_x_sum, avg_x_count, round(avg_x::numeric, 9),
    first_n, (extract(epoch FROM first_n_event_time) * 1000000)::bigint,
    last_x, (extract(epoch FROM last_x_event_time) * 1000000)::bigint, seven FROM win_hop)";
constexpr const char* kCumulativeSql = R"(SELECT (extract(epoch FROM window_start) * 1000000)::bigint, (extract(epoch FROM window_end) * 1000000)::bigint,
    first_tag, (extract(epoch FROM first_tag_event_time) * 1000000)::bigint,
    last_n, (extract(epoch FROM last_n_event_time) * 1000000)::bigint FROM win_running)";

class SpecWindowWriterTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = test::migrated_spec_database("spec_window_writer", spec_);
        windows_ = std::make_unique<SpecWindowWriter>(*conn_, copy_, spec_, layout_, std::vector<std::string>{});
    }

    /// One batch, merged and committed as the sink does: the records `counted` (their fact is
    /// new) counted. `fold_up_front`: folded as the stage does (window_fold.h), before the
    /// sink takes out what is not counted; else the sink folds what it counts.
    void write(const std::vector<Record>& records, bool fold_up_front = false) {
        spec::SpecBatch batch;
        batch.topics = {"shop"};
        for (const Record& r : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(r.id);
            row.values[layout_.at("at")] = r.time_us;
            row.values[layout_.at("kind")] = batch.text(r.kind);
            if (r.n) row.values[layout_.at("n")] = *r.n;
            if (r.x) row.values[layout_.at("x")] = *r.x;
            if (r.tag) row.values[layout_.at("tag")] = batch.text(*r.tag);
            if (r.device && r.device_as_number) row.values[layout_.at("device")] = std::stoll(*r.device);
            else if (r.device) row.values[layout_.at("device")] = batch.text(*r.device);
            row.event_time_us = r.time_us;
            batch.rows.push_back(std::move(row));
        }
        for (const auto& w : spec::folded_windows(spec_, layout_, filters_)) {
            if (!fold_up_front) break;
            spec::WindowFold& fold = batch.window_folds.emplace_back(std::make_shared<const spec::FoldedWindow>(w), 0);
            for (std::size_t r = 0; r < batch.rows.size(); ++r) fold.add(batch.rows, {}, filters_);
            fold.seal();
        }
        std::vector<bool> counted;
        for (const Record& r : records) counted.push_back(r.counted);
        conn_->exec(kBeginReadCommitted);
        windows_->write(batch, 0, batch.rows.size(), {}, counted);
        conn_->exec("COMMIT");
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "shop.yaml");
    const spec::ReferenceLayout layout_{spec_};
    const spec::RecordFilters filters_{spec_, layout_};
    std::unique_ptr<PgConnection> conn_;
    BinaryCopyWriter copy_;
    std::unique_ptr<SpecWindowWriter> windows_;
};

/// Records over 60 s at whole seconds (ties between different values are frequent), n, x and tag
/// NULL now and then, n up to 11 (its text order is not its order), x a multiple of 0.5 (exact
/// sums in any order), tag of upper and lower case (bytewise "Z" < "a", not so in most
/// collations), shuffled.
std::vector<Record> random_records(std::mt19937_64& rng, int count) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    std::vector<Record> out;
    for (int i = 0; i < count; ++i) {
        Record r{"e" + std::to_string(i), kBaseUs + pick(60) * kSecondUs, pick(2) ? "a" : "b", std::nullopt, std::nullopt, std::nullopt};
        if (pick(5)) r.n = pick(12);
        if (pick(4)) r.x = pick(40) * 0.5;
        if (pick(6)) r.tag = std::string(1, "aBbZz"[pick(5)]);
        out.push_back(r);
    }
    std::shuffle(out.begin(), out.end(), rng);
    return out;
}

/// Writes `records` in random batches of 1 to `most` records; after each, `check(written so
/// far, context)`.
template <typename Check>
void in_random_batches(std::mt19937_64& rng, const std::vector<Record>& records, std::size_t most,
                       const std::function<void(const std::vector<Record>&)>& write, Check check) {
    std::vector<Record> written;
    for (std::size_t at = 0; at < records.size();) {
        const std::size_t size = std::min<std::size_t>(records.size() - at, 1 + rng() % most);
        const std::vector<Record> batch(records.begin() + static_cast<long>(at), records.begin() + static_cast<long>(at + size));
        write(batch);
        written.insert(written.end(), batch.begin(), batch.end());
        at += size;
        check(written, std::to_string(at) + " records");
    }
}

TEST_F(SpecWindowWriterTest, RandomBatchesMatchTheBruteForce) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        conn_->exec("TRUNCATE win_hop, win_running");
        std::mt19937_64 rng(seed);
        in_random_batches(rng, random_records(rng, 200), 25, [&](const auto& batch) { write(batch); },
                          [&](const std::vector<Record>& written, const std::string& context) {
                              ASSERT_EQ(keyed_rows(*conn_, kHoppingSql, 2), hopping_oracle(written)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kCumulativeSql, 2), cumulative_oracle(written)) << "seed " << seed << ", " << context;
                          });
    }
}

/// Records over 80 s at whole seconds; tag and device NULL now and then; devices "42" and "7"
/// (each sent as text or as a number), a short one, and ones longer than a short string's buffer.
std::vector<Record> counting_records(std::mt19937_64& rng, int count) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    std::vector<Record> out;
    for (int i = 0; i < count; ++i) {
        Record r{"e" + std::to_string(i), kBaseUs + pick(80) * kSecondUs, pick(2) ? "a" : "b", std::nullopt, std::nullopt, std::nullopt};
        if (pick(6)) r.tag = std::string(1, "aBz"[pick(3)]);
        if (pick(5)) {
            const int d = pick(6);
            r.device = d == 0 ? "42" : d == 1 ? "7" : d == 2 ? "d2" : "device-with-a-long-identifier-" + std::to_string(d);
            r.device_as_number = d < 2 && pick(2);
        }
        if (pick(3)) r.x = pick(10) * 0.5;
        out.push_back(r);
    }
    return out;
}

TEST_F(SpecWindowWriterTest, CountingTablesInRandomBatchesOfNewAndStoredCellsMatchTheBruteForce) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        conn_->exec("TRUNCATE win_tags, win_hop_devices, win_running_devices, win_tags_devices_members, win_hop_devices_devices_members, "
                    "win_running_devices_devices_members");
        std::mt19937_64 rng(seed);
        in_random_batches(rng, counting_records(rng, 300), 40, [&](const auto& batch) { write(batch); },
                          [&](const std::vector<Record>& written, const std::string& context) {
                              ASSERT_EQ(keyed_rows(*conn_, kTagsSql, 3), tags_oracle(written)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kHopDevicesSql, 1), hop_devices_oracle(written)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kRunningDevicesSql, 3), running_devices_oracle(written)) << "seed " << seed << ", " << context;
                          });
    }
}

TEST_F(SpecWindowWriterTest, BatchesFoldedByTheStageWithDuplicatesMatchTheBruteForce) {
    // Records whose fact is not new are in the stage's fold and taken out by the sink: a member
    // only they bring must not be counted, a cell only they make must not be written.
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        conn_->exec("TRUNCATE win_tags, win_hop_devices, win_running_devices, win_tags_devices_members, win_hop_devices_devices_members, "
                    "win_running_devices_devices_members, win_hop, win_running");
        std::mt19937_64 rng(seed);
        std::vector<Record> records = counting_records(rng, 300);
        for (Record& r : records) {
            r.counted = rng() % 4 != 0;
            if (rng() % 2) r.n = static_cast<std::int64_t>(rng() % 12);
        }
        in_random_batches(rng, records, 40, [&](const auto& batch) { write(batch, rng() % 4 != 0); },
                          [&](const std::vector<Record>& written, const std::string& context) {
                              const std::vector<Record> counted = counted_only(written);
                              ASSERT_EQ(keyed_rows(*conn_, kTagsSql, 3), tags_oracle(counted)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kHopDevicesSql, 1), hop_devices_oracle(counted)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kRunningDevicesSql, 3), running_devices_oracle(counted)) << "seed " << seed << ", " << context;
                              ASSERT_EQ(keyed_rows(*conn_, kHoppingSql, 2), hopping_oracle(counted)) << "seed " << seed << ", " << context;
                          });
    }
}

TEST_F(SpecWindowWriterTest, ACellDeletedByHandCountsItsMembersAnew) {
    // A view of kind a, tag z at second `s` from `device`.
    const auto view = [](const char* id, int s, const char* device) {
        return Record{id, kBaseUs + s * kSecondUs, "a", std::nullopt, std::nullopt, "z", device};
    };
    write({view("e1", 1, "d1"), view("e2", 2, "d2"), view("e3", 3, "d1")});
    ASSERT_EQ(keyed_rows(*conn_, kTagsSql, 3), tags_oracle({view("e1", 1, "d1"), view("e2", 2, "d2"), view("e3", 3, "d1")}));
    conn_->exec("DELETE FROM win_tags");  // its members stay in win_tags_devices_members
    const std::vector<Record> since{view("e4", 4, "d1"), view("e5", 5, "d3")};
    write(since);
    // The deleted rows are gone (the hand's doing); the cell counts what came since, d1 included.
    EXPECT_EQ(keyed_rows(*conn_, kTagsSql, 3), tags_oracle(since));
    EXPECT_EQ(keyed_rows(*conn_, "SELECT member FROM win_tags_devices_members ORDER BY 1", 1), (std::map<Row, Row>{{{"d1"}, {}}, {{"d3"}, {}}}));
}

TEST_F(SpecWindowWriterTest, WindowRowsWrittenByHandBeyondAnyRecordsTimeStopNothing) {
    // Rows at -infinity, +infinity or in year 50000, where no record's window starts (years 1-9999,
    // spec/record_decoder.h): the newest window that spares new cells their probe leaves them
    // out (bigint holds no infinity: cast, it would refuse every batch), and they stay as written.
    const auto view = [](const char* id, int s, const char* device) {
        return Record{id, kBaseUs + s * kSecondUs, "a", std::nullopt, std::nullopt, "z", device};
    };
    std::vector<Record> written{view("e1", 1, "d1"), view("e2", 2, "d2")};
    write(written);
    conn_->exec("INSERT INTO win_tags (window_start, window_end, kind, tag, views, with_x, devices, bees) VALUES"
                " ('-infinity', '-infinity', 'a', 'z', 7, 0, 7, 0), ('infinity', 'infinity', 'a', 'z', 7, 0, 7, 0),"
                " ('50000-01-01', '50000-01-01 00:00:10', 'a', 'z', 7, 0, 7, 0)");
    const std::vector<Record> since{view("e3", 3, "d1"), view("e4", 40, "d3")};  // into the stored cell, and a new one
    write(since);
    written.insert(written.end(), since.begin(), since.end());
    EXPECT_EQ(keyed_rows(*conn_, std::string(kTagsSql) + " WHERE isfinite(window_start) AND window_start < '10000-01-01'", 3), tags_oracle(written));
    EXPECT_EQ(keyed_rows(*conn_, "SELECT count(*) FROM win_tags WHERE views = 7", 1), (std::map<Row, Row>{{{"3"}, {}}}));
}

TEST_F(SpecWindowWriterTest, TextGroupsInAnExplicitCollationMatchTheBruteForce) {
    // An operator's COLLATE "C" on the group column: on the window table and its member table
    // (the fast path), then on the window table alone (the merge statement for every cell).
    // Either way no comparison's collation is undetermined.
    for (const bool members_too : {true, false}) {
        conn_->exec("DROP TABLE win_tags, win_tags_devices_members");
        apply_spec_migrations(*conn_, {spec_});
        conn_->exec("ALTER TABLE win_tags ALTER COLUMN tag TYPE text COLLATE \"C\"");
        if (members_too) conn_->exec("ALTER TABLE win_tags_devices_members ALTER COLUMN tag TYPE text COLLATE \"C\"");
        conn_->exec("DISCARD TEMP");  // the staging tables of the writer before, made again by the next
        windows_ = std::make_unique<SpecWindowWriter>(*conn_, copy_, spec_, layout_, std::vector<std::string>{});
        std::mt19937_64 rng(7);
        in_random_batches(rng, counting_records(rng, 120), 40, [&](const auto& batch) { write(batch); },
                          [&](const std::vector<Record>& written, const std::string& context) {
                              ASSERT_EQ(keyed_rows(*conn_, kTagsSql, 3), tags_oracle(written)) << members_too << ", " << context;
                          });
    }
}

TEST(SpecWindowWriterSpellings, GroupKeysEqualAsTheirTypeAreOneGroupWhateverTheirText) {
    // A numeric group key sent as "1.0", "1" and "1.00" in one batch is one group: grouped as
    // text, the three rows would upsert one window row three times, which PostgreSQL refuses for
    // the whole statement (21000), stopping the pipeline on valid data.
    const spec::PipelineSpec spec = spec::parse_pipeline_spec(R"(pipeline: prices
source: {topics: [prices]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  price: {pointer: /price, type: numeric, required: true}
event: {id: id, time: at}
facts:
  fact_prices: {grain: event, columns: [id, price]}
windows:
  win_price_minutes:
    tumbling: 1m
    group_by: [price]
    aggregates: {sales: count, ids: count_distinct(id), first_id: first(id)}
)", "prices.yaml");
    const spec::ReferenceLayout layout{spec};
    const auto database = test::migrated_spec_database("spec_window_spellings", spec);
    PgConnection& conn = *database;
    BinaryCopyWriter copy;
    SpecWindowWriter windows(conn, copy, spec, layout, {});
    spec::SpecBatch batch;
    batch.topics = {"prices"};
    const char* const spellings[] = {"1.0", "1", "1.00", "2.5"};
    for (int i = 0; i < 4; ++i) {
        spec::SpecRow row;
        row.values.resize(layout.size());
        row.values[layout.at("id")] = batch.text("e" + std::to_string(i));
        row.values[layout.at("at")] = kBaseUs + i * kSecondUs;
        row.values[layout.at("price")] = batch.text(spellings[i]);
        row.event_time_us = kBaseUs + i * kSecondUs;
        batch.rows.push_back(std::move(row));
    }
    conn.exec(kBeginReadCommitted);
    windows.write(batch, 0, batch.rows.size(), {}, std::vector<bool>(batch.rows.size(), true));
    conn.exec("COMMIT");
    EXPECT_EQ(keyed_rows(conn, "SELECT trim_scale(price)::text, sales::text, ids::text, first_id FROM win_price_minutes", 1),
              (std::map<Row, Row>{{{"1"}, {"3", "3", "e0"}}, {{"2.5"}, {"1", "1", "e3"}}}));
}


TEST(SpecWindowWriterKeys, TheDimensionKeysTheSinkMergedGroupTheCellsNotTheStages) {
    // The stage folds by the keys it computes; the dimension merge may give a row a stored
    // member's key instead (a key of several spellings). The cells must be the merged keys'.
    const spec::PipelineSpec spec = spec::parse_pipeline_spec(R"(pipeline: shops
source: {topics: [shops]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  shop: {pointer: /shop, type: text, required: true}
event: {id: id, time: at}
dimensions:
  dim_shop: {key: [shop]}
facts:
  fact_shops: {grain: event, columns: [id]}
windows:
  win_shop_minutes:
    tumbling: 1m
    group_by: [dim_shop]
    aggregates: {sales: count, ids: count_distinct(id)}
)", "shops.yaml");
    const spec::ReferenceLayout layout{spec};
    const spec::RecordFilters filters{spec, layout};
    const auto database = test::migrated_spec_database("spec_window_keys", spec);
    PgConnection& conn = *database;
    BinaryCopyWriter copy;
    SpecWindowWriter windows(conn, copy, spec, layout, {"dim_shop"});
    spec::SpecBatch batch;
    batch.topics = {"shops"};
    for (int i = 0; i < 3; ++i) {
        spec::SpecRow& row = batch.rows.emplace_back();
        row.values.resize(layout.size());
        row.values[layout.at("id")] = batch.text("e" + std::to_string(i));
        row.values[layout.at("at")] = kBaseUs + i * kSecondUs;
        row.values[layout.at("shop")] = batch.text("s");
        row.event_time_us = kBaseUs + i * kSecondUs;
        row.member_keys = {11};  // the stage's key
    }
    spec::WindowFold& fold = batch.window_folds.emplace_back(std::make_shared<const spec::FoldedWindow>(spec::folded_windows(spec, layout, filters).at(0)), 0);
    for (const auto& row : batch.rows) fold.add(batch.rows, row.member_keys, filters);
    fold.seal();
    conn.exec(kBeginReadCommitted);
    windows.write(batch, 0, batch.rows.size(), {{11, 22, 22}}, std::vector<bool>(batch.rows.size(), true));  // the merged keys
    conn.exec("COMMIT");
    EXPECT_EQ(keyed_rows(conn, "SELECT shop_key::text, sales::text, ids::text FROM win_shop_minutes", 1),
              (std::map<Row, Row>{{{"11"}, {"1", "1"}}, {{"22"}, {"2", "2"}}}));
}

/// A spec of clicks (id, time, user) with the given `windows:` section, its migrated database,
/// and its window writer; batches written as the sink writes them, their checkpoint's watermark
/// applied to starstream.progress as BatchLedger::update_progress does.
class ClickWindows {
public:
    ClickWindows(const std::string& name, const std::string& windows)
        : spec_(spec::parse_pipeline_spec(R"(pipeline: clicks
source: {topics: [clicks]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  user: {pointer: /user, type: text}
event: {id: id, time: at}
facts:
  fact_clicks: {grain: event, columns: [id]}
windows:
)" + windows, "clicks.yaml")),
          database_(test::migrated_spec_database(name, spec_)),
          windows_(*database_, copy_, spec_, layout_, {}) {}

    PgConnection& conn() { return *database_; }
    /// Partition `partition` of clicks with the committed `watermark` (none: NULL, a partition
    /// added to the topic).
    void add_partition(int partition, std::optional<std::int64_t> watermark) {
        conn().exec_params("INSERT INTO starstream.progress (topic, partition, epoch, watermark) VALUES ('clicks', $1, 1,"
                           " 'epoch'::timestamptz + nullif($2, '')::bigint * interval '1 microsecond')",
                           {std::to_string(partition), watermark ? std::to_string(*watermark) : ""});
    }
    /// One committed batch of user "u"'s records at `times` (Unix microseconds); with
    /// `watermark`, its checkpoint carries partition 0 to it.
    SpecWindowOutcome write(const std::vector<std::int64_t>& times, std::optional<std::int64_t> watermark = std::nullopt) {
        spec::SpecBatch batch;
        batch.topics = {"clicks"};
        for (const std::int64_t time_us : times) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(std::to_string(offset_));
            row.values[layout_.at("at")] = time_us;
            row.values[layout_.at("user")] = batch.text("u");
            row.event_time_us = time_us;
            row.offset = offset_++;
            batch.rows.push_back(std::move(row));
        }
        if (watermark) {
            batch.checkpoint.consumed({"clicks", 0}, offset_ - 1, 1);
            batch.checkpoint.seal({}, [](const engine::TopicPartition&) { return -1; }, [&](const engine::TopicPartition&) { return *watermark; });
        }
        conn().exec(kBeginReadCommitted);
        const SpecWindowOutcome outcome = windows_.write(batch, 0, batch.rows.size(), {}, std::vector<bool>(batch.rows.size(), true));
        if (watermark)
            conn().exec_params("UPDATE starstream.progress SET watermark = greatest(watermark, 'epoch'::timestamptz + $1::bigint * interval '1 microsecond')"
                               " WHERE topic = 'clicks' AND partition = 0",
                               {std::to_string(*watermark)});
        conn().exec("COMMIT");
        return outcome;
    }

private:
    const spec::PipelineSpec spec_;
    const spec::ReferenceLayout layout_{spec_};
    std::unique_ptr<PgConnection> database_;
    BinaryCopyWriter copy_;
    SpecWindowWriter windows_;
    std::int64_t offset_ = 0;
};

std::int64_t minute(std::int64_t m) { return kBaseUs + m * 60 * kSecondUs; }

TEST(SpecWindowWriterWatermark, APartitionWithoutAWatermarkYetDoesNotReopenFinalWindows) {
    // The spec's window watermark is the minimum over its topics' partitions; a partition that
    // appears without one (a partition added to the topic) must not make records late before it
    // on time again: the watermark never goes back (starstream.pipeline_watermark).
    ClickWindows clicks("spec_window_floor", R"(  win_click_minutes:
    tumbling: 1m
    aggregates: {clicks: count}
    late: {policy: drop}
)");
    clicks.add_partition(0, minute(10));
    EXPECT_EQ(clicks.write({minute(1)}).watermark_us, minute(10));  // its window ended at 2 min: dropped
    clicks.add_partition(1, std::nullopt);
    EXPECT_EQ(clicks.write({minute(2)}).watermark_us, minute(10));  // still late
    EXPECT_EQ(clicks.write({minute(11)}).watermark_us, minute(10));
    EXPECT_EQ(keyed_rows(clicks.conn(), "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, clicks::text FROM win_click_minutes", 1),
              (std::map<Row, Row>{{{std::to_string(minute(11))}, {"1"}}}));
}

TEST(SpecWindowWriterWatermark, MembersOfWindowsFinalAtCommitAreNotKeptYetNoRecordCountsTwice) {
    // A new cell of a window that the batch's own checkpoint makes final goes without its
    // members (spec_window_cells.h step 3). That is only sound if no later batch judges against a
    // lower watermark: here a partition without a watermark appears after the commit, which
    // drops the minimum over the partitions to unknown, and a record of the same user arrives for
    // that window. The floor raised to the watermark after commit keeps it late; a floor at the
    // watermark judged before the commit would merge it and count the user twice.
    ClickWindows clicks("spec_window_final_members", R"(  win_click_minutes:
    tumbling: 1m
    aggregates: {clicks: count, users: count_distinct(user)}
    late: {policy: correct, allowed_lateness: 1m}
)");
    clicks.add_partition(0, minute(10));
    // Judged at 10 min, both on time; once committed at 12 min, the window [10, 11) is final
    // (its end plus the 1 min of lateness), [11, 12) is not.
    EXPECT_EQ(clicks.write({minute(10) + 30 * kSecondUs, minute(11) + 30 * kSecondUs}, minute(12)).watermark_us, minute(10));
    EXPECT_EQ(keyed_rows(clicks.conn(), "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, member FROM win_click_minutes_users_members", 1),
              (std::map<Row, Row>{{{std::to_string(minute(11))}, {"u"}}}));
    clicks.add_partition(1, std::nullopt);
    const SpecWindowOutcome late = clicks.write({minute(10) + 40 * kSecondUs, minute(11) + 40 * kSecondUs});
    EXPECT_EQ(late.watermark_us, minute(12));
    EXPECT_EQ(late.late.at(0).by_policy[1], 1u);  // [10, 11) is final: the record is a late dead letter
    EXPECT_EQ(keyed_rows(clicks.conn(), "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, clicks::text, users::text FROM win_click_minutes", 1),
              (std::map<Row, Row>{{{std::to_string(minute(10))}, {"1", "1"}}, {{std::to_string(minute(11))}, {"2", "1"}}}));
}

}  // namespace
}  // namespace starstream::daemon::postgres
