// The spec windows' fast path (spec_window_cells.h) against a real PostgreSQL and a brute force:
// tables whose aggregates only count (count, counts filtered by kind and by a value present, count_distinct
// of text) take it; random records merged by SpecWindowWriter in random batches, so that a batch
// meets both cells new to the table (copied straight in) and cells stored by an earlier batch
// (merged by the statement). After every batch each row must equal what the records so far give.
// The records are hostile to a fold in memory: text groups and members that are NULL now and
// then, members sent as text or as numbers ("42" both ways: one member), members
// longer than a short string, a cumulative table (the end is part of its key) and a hopping one.
// Then the case that only the fast path can get right: a cell deleted by hand, its members left.
#include "sink/postgres/spec_window_writer.h"

#include "keyed_rows.h"
#include "spec_database.h"
#include "sink/postgres/window_lock.h"  // kBeginReadCommitted
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>

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
  tag: {pointer: /tag, type: text}
  device: {pointer: /device, type: text}
  x: {pointer: /x, type: double}
event: {id: id, time: at}
facts:
  fact_shop: {grain: event, columns: [id, kind]}
windows:
  win_tags:
    tumbling: 10s
    group_by: [kind, tag]
    aggregates:
      views: count
      with_x: {function: count, where: {x: {present: true}}}
      devices: count_distinct(device)
      bees: {function: count, where: {kind: b}}
  win_hop:
    hopping: {size: 20s, slide: 10s}
    aggregates: {devices: count_distinct(device)}
  win_running:
    cumulative: {size: 40s, step: 10s}
    group_by: [kind]
    aggregates: {devices: count_distinct(device), views: count}
)";

struct Record {
    std::string id;
    std::int64_t time_us = 0;
    std::string kind;
    std::optional<std::string> tag, device;
    bool device_as_number = false;  ///< sent as the integer the device's text spells
    std::optional<double> x;
};

using Row = std::vector<std::string>;

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

std::map<Row, Row> hop_oracle(const std::vector<Record>& records) {
    std::map<Row, Cell> cells;
    for (const Record& r : records) {
        const std::int64_t last = r.time_us / (10 * kSecondUs) * 10 * kSecondUs;
        for (std::int64_t start : {last - 10 * kSecondUs, last}) count(cells[{std::to_string(start)}], r);
    }
    std::map<Row, Row> out;
    for (const auto& [key, c] : cells) out[key] = {std::to_string(c.devices.size())};
    return out;
}

std::map<Row, Row> running_oracle(const std::vector<Record>& records) {
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
constexpr const char* kHopSql = "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, devices FROM win_hop";
constexpr const char* kRunningSql =
    "SELECT (extract(epoch FROM window_start) * 1000000)::bigint, (extract(epoch FROM window_end) * 1000000)::bigint, kind, devices, views "
    "FROM win_running";

class SpecWindowCellsTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = test::migrated_spec_database("spec_window_cells", spec_);
        windows_ = std::make_unique<SpecWindowWriter>(*conn_, copy_, spec_, layout_, std::vector<std::string>{});
    }

    /// One batch, merged and committed as the sink does: every record counted (new).
    void write(const std::vector<Record>& records) {
        spec::SpecBatch batch;
        batch.topics = {"shop"};
        for (const Record& r : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(r.id);
            row.values[layout_.at("at")] = r.time_us;
            row.values[layout_.at("kind")] = batch.text(r.kind);
            if (r.tag) row.values[layout_.at("tag")] = batch.text(*r.tag);
            if (r.device && r.device_as_number) row.values[layout_.at("device")] = std::stoll(*r.device);
            else if (r.device) row.values[layout_.at("device")] = batch.text(*r.device);
            if (r.x) row.values[layout_.at("x")] = *r.x;
            row.event_time_us = r.time_us;
            batch.rows.push_back(std::move(row));
        }
        conn_->exec(kBeginReadCommitted);
        windows_->write(batch, 0, batch.rows.size(), {}, std::vector<bool>(batch.rows.size(), true));
        conn_->exec("COMMIT");
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "shop.yaml");
    const spec::ReferenceLayout layout_{spec_};
    std::unique_ptr<PgConnection> conn_;
    BinaryCopyWriter copy_;
    std::unique_ptr<SpecWindowWriter> windows_;
};

/// Records over 80 s at whole seconds; tag and device NULL now and then; devices "42" and "7"
/// (each sent as text or as a number), a short one, and ones longer than a short string's buffer.
std::vector<Record> random_records(std::mt19937_64& rng, int count) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    std::vector<Record> out;
    for (int i = 0; i < count; ++i) {
        Record r{"e" + std::to_string(i), kBaseUs + pick(80) * kSecondUs, pick(2) ? "a" : "b"};
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

TEST_F(SpecWindowCellsTest, RandomBatchesOfNewAndStoredCellsMatchTheBruteForce) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        conn_->exec("TRUNCATE win_tags, win_hop, win_running, win_tags_devices_members, win_hop_devices_members, win_running_devices_members");
        std::mt19937_64 rng(seed);
        const std::vector<Record> records = random_records(rng, 300);
        std::vector<Record> written;
        for (std::size_t at = 0; at < records.size();) {
            const std::size_t size = std::min<std::size_t>(records.size() - at, 1 + rng() % 40);
            const std::vector<Record> batch(records.begin() + static_cast<long>(at), records.begin() + static_cast<long>(at + size));
            write(batch);
            written.insert(written.end(), batch.begin(), batch.end());
            at += size;
            const std::string context = "seed " + std::to_string(seed) + " after " + std::to_string(at) + " records";
            ASSERT_EQ(test::keyed_rows(*conn_, kTagsSql, 3), tags_oracle(written)) << context;
            ASSERT_EQ(test::keyed_rows(*conn_, kHopSql, 1), hop_oracle(written)) << context;
            ASSERT_EQ(test::keyed_rows(*conn_, kRunningSql, 3), running_oracle(written)) << context;
        }
    }
}

TEST_F(SpecWindowCellsTest, ACellDeletedByHandCountsItsMembersAnew) {
    const auto at = [](int s) { return kBaseUs + s * kSecondUs; };
    write({{"e1", at(1), "a", "z", "d1"}, {"e2", at(2), "a", "z", "d2"}, {"e3", at(3), "a", "z", "d1"}});
    ASSERT_EQ(test::keyed_rows(*conn_, kTagsSql, 3), tags_oracle({{"e1", at(1), "a", "z", "d1"}, {"e2", at(2), "a", "z", "d2"}, {"e3", at(3), "a", "z", "d1"}}));
    conn_->exec("DELETE FROM win_tags");  // its members stay in win_tags_devices_members
    const std::vector<Record> since{{"e4", at(4), "a", "z", "d1"}, {"e5", at(5), "a", "z", "d3"}};
    write(since);
    // The deleted rows are gone (the hand's doing); the cell counts what came since, d1 included.
    EXPECT_EQ(test::keyed_rows(*conn_, kTagsSql, 3), tags_oracle(since));
    EXPECT_EQ(test::keyed_rows(*conn_, "SELECT member FROM win_tags_devices_members ORDER BY 1", 1), (std::map<Row, Row>{{{"d1"}, {}}, {{"d3"}, {}}}));
}

}  // namespace
}  // namespace starstream::daemon::postgres
