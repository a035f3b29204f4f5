// Spec session windows (sink/postgres/spec_session_writer.h) against a real PostgreSQL, compared
// with a brute force: random records for a few keys on a coarse time grid (so that records tie,
// lie exactly one gap apart and bridge stored sessions), with null inputs and records whose fact
// is not new, split into random batches written in random order, most of them folded by the
// stage's session operator (spec/session_fold.h) before the sink skips what it does not count;
// after every batch each stored session must equal what sessionizing every record counted so far
// gives.
#include "sink/postgres/spec_session_writer.h"

#include "spec_database.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/window_lock.h"  // kBeginReadCommitted, kWindowMergeLock
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <tuple>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kBaseUs = 1767225600LL * 1000000;  // 2026-01-01 UTC
constexpr std::int64_t kGapUs = 600LL * 1000000;          // the spec's 10m

const std::string kSpec = R"(pipeline: visits
source: {topics: [visits], format: json}
fields:
  id: {pointer: /id, type: integer, required: true}
  user: {pointer: /user, type: text, required: true}
  kind: {pointer: /kind, type: text, required: true}
  amount: {pointer: /amount, type: integer}
  page: {pointer: /page, type: text}
  at: {pointer: /at, type: timestamp, unit: us, required: true}
event: {id: id, time: at}
facts:
  fact_visit: {grain: event, columns: [id, user, kind, amount, page, at]}
windows:
  win_visits:
    session: {gap: 10m, key: user}
    aggregates:
      records: count
      buys: {function: count, where: {kind: buy}}
      spent: sum(amount)
      low: min(amount)
      high: max(amount)
      mean: avg(amount)
      entry: first(page)
      exit: last(page)
      first_buy: {function: first, of: page, where: {kind: buy}}
      last_buy: {function: last, of: page, where: {kind: buy}}
      bought: {function: any, where: {kind: buy}}
)";

struct Record {
    std::string user, kind;
    std::int64_t time_us = 0;
    std::optional<std::int64_t> amount;
    std::optional<std::string> page;
    bool counted = true;  ///< its fact is new (else a duplicate: the sessions skip it)
};

/// A session row as text (NULL as "-"), in the table's column order below.
using Row = std::vector<std::string>;

std::string text(const std::optional<std::string>& v) { return v ? *v : "-"; }
std::string text(const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : "-"; }

/// sum / count rounded half away from zero to 6 decimals, as PostgreSQL's round(numeric, 6) prints it.
std::string rounded_quotient(std::int64_t sum, std::int64_t count) {
    const std::int64_t scaled = sum * 1000000, magnitude = ((scaled < 0 ? -scaled : scaled) * 2 + count) / (2 * count);
    return fmt::format("{}{}.{:06}", scaled < 0 && magnitude ? "-" : "", magnitude / 1000000, magnitude % 1000000);
}

// ---- the brute force -------------------------------------------------------------------------

/// x of the earliest (first) or latest record passing `passes`; at that time the least (greatest)
/// page, bytewise, a null page (nullopt) the least as std::optional orders it (spec_first_last.h);
/// its time.
std::pair<std::optional<std::string>, std::optional<std::int64_t>> ordered_page(const std::vector<Record>& s, bool first, bool (*passes)(const Record&)) {
    std::optional<std::int64_t> at;
    for (const auto& r : s)
        if (passes(r) && (!at || (first ? r.time_us < *at : r.time_us > *at))) at = r.time_us;
    std::optional<std::string> page;
    bool found = false;
    for (const auto& r : s)
        if (at && passes(r) && r.time_us == *at && (!found || (first ? r.page < page : r.page > page))) page = r.page, found = true;
    return {page, at};
}

Row oracle_row(const std::vector<Record>& s) {
    auto all = [](const Record&) { return true; };
    auto buy = [](const Record& r) { return r.kind == "buy"; };
    std::optional<std::int64_t> spent, least, most;
    std::int64_t buys = 0, amounts = 0;
    for (const auto& r : s) {
        buys += buy(r);
        if (!r.amount) continue;
        ++amounts;
        spent = spent.value_or(0) + *r.amount;
        least = std::min(least.value_or(INT64_MAX), *r.amount);
        most = std::max(most.value_or(INT64_MIN), *r.amount);
    }
    const auto [first_buy, first_buy_at] = ordered_page(s, true, buy);
    const auto [last_buy, last_buy_at] = ordered_page(s, false, buy);
    return {s.front().user, std::to_string(s.front().time_us), std::to_string(s.back().time_us + kGapUs), std::to_string(s.back().time_us),
            std::to_string(s.size()), std::to_string(buys), text(spent), text(least), text(most),
            amounts ? rounded_quotient(*spent, amounts) : "-", text(spent), std::to_string(amounts),
            text(ordered_page(s, true, all).first), text(ordered_page(s, false, all).first), text(first_buy), text(first_buy_at),
            text(last_buy), text(last_buy_at), buys > 0 ? "t" : "f"};
}

/// Every session of `records`: per user sorted by time, a new one wherever a record is a gap or
/// more after the previous.
std::vector<Row> oracle(std::vector<Record> records) {
    std::stable_sort(records.begin(), records.end(), [](const Record& a, const Record& b) { return std::tie(a.user, a.time_us) < std::tie(b.user, b.time_us); });
    std::vector<Row> out;
    std::vector<Record> session;
    for (const auto& r : records) {
        if (!session.empty() && (r.user != session.back().user || r.time_us - session.back().time_us >= kGapUs)) {
            out.push_back(oracle_row(session));
            session.clear();
        }
        session.push_back(r);
    }
    if (!session.empty()) out.push_back(oracle_row(session));
    std::sort(out.begin(), out.end());
    return out;
}

// ---- the database under test -----------------------------------------------------------------

std::string micros(const std::string& column) { return "(extract(epoch FROM " + column + ") * 1000000)::bigint"; }

/// The rows of `sql` in the order it gives, each cell as PostgreSQL's text, NULL as "-".
std::vector<Row> query_rows(PgConnection& conn, const std::string& sql) {
    PgResult r = conn.exec(sql);
    std::vector<Row> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        Row row;
        for (int c = 0; c < PQnfields(r.get()); ++c) row.push_back(PQgetisnull(r.get(), i, c) ? "-" : PQgetvalue(r.get(), i, c));
        out.push_back(row);
    }
    return out;
}

/// The columns of kSpec's win_visits as stored() reads them, in oracle_row's order.
const std::vector<std::string> kColumns = {"\"user\"", micros("window_start"), micros("window_end"), micros("last_event_time"), "records", "buys",
                                           "spent", "low", "high", "round(mean, 6)", "mean_sum", "mean_count", "entry", "exit", "first_buy",
                                           micros("first_buy_event_time"), "last_buy", micros("last_buy_event_time"), "bought"};
std::vector<std::size_t> all_columns() {
    std::vector<std::size_t> all(kColumns.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    return all;
}

/// The sessions stored, each the `columns` (places in kColumns) of its row, sorted.
std::vector<Row> stored(PgConnection& conn, const std::vector<std::size_t>& columns = all_columns()) {
    std::vector<std::string> selected;
    for (const std::size_t c : columns) selected.push_back(kColumns[c]);
    std::vector<Row> out = query_rows(conn, fmt::format("SELECT {} FROM win_visits", fmt::join(selected, ", ")));
    std::sort(out.begin(), out.end());
    return out;
}

/// `rows` with only the `columns` (places in oracle_row's), sorted.
std::vector<Row> projected(const std::vector<Row>& rows, const std::vector<std::size_t>& columns) {
    std::vector<Row> out;
    for (const Row& r : rows) {
        Row kept;
        for (const std::size_t c : columns) kept.push_back(r[c]);
        out.push_back(std::move(kept));
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// What merge_committed's batch did: the table's row counts and the late records.
struct Merged {
    engine::TableRows rows;
    engine::LateRecords late;
};

/// `batch` merged by `writer` as the sink does (the rows `counted` new, every one when none are
/// given; no watermark yet: none late), under the window lock, and committed; `keys[d][r]`: row
/// r's key in dimension d.
Merged merge_committed(PgConnection& conn, SpecSessionWriter& writer, const spec::SpecBatch& batch, const std::vector<std::vector<std::int64_t>>& keys = {},
                       std::vector<bool> counted = {}) {
    conn.exec(kBeginReadCommitted);
    conn.exec(kWindowMergeLock);
    Merged out;
    if (counted.empty()) counted.assign(batch.rows.size(), true);
    out.rows = writer.merge(batch, 0, batch.rows.size(), keys, counted, INT64_MIN, out.late);
    conn.exec("COMMIT");
    return out;
}

class SpecSessionWriterTest : public ::testing::Test {
protected:
    explicit SpecSessionWriterTest(const std::string& spec = kSpec) : spec_(spec::parse_pipeline_spec(spec, "visits.yaml")) {}

    void SetUp() override {
        conn_ = test::spec_database("spec_sessions", spec_);
        writer_ = std::make_unique<SpecSessionWriter>(*conn_, copy_, spec_, layout_, spec_.windows.at(0), filters_);
    }

    /// One batch, its records on time and those `counted` new, merged under the window lock and
    /// committed. `fold_up_front`: its sessions' records admitted and sorted as the stage does
    /// (session_fold.h), before the sink skips those not counted; else the sink folds them.
    void write(const std::vector<Record>& records, bool fold_up_front = false) {
        spec::SpecBatch batch;
        for (const auto& r : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = std::int64_t{static_cast<std::int64_t>(batch.rows.size())};
            row.values[layout_.at("user")] = batch.text(r.user);
            row.values[layout_.at("kind")] = batch.text(r.kind);
            if (r.amount) row.values[layout_.at("amount")] = *r.amount;
            if (r.page) row.values[layout_.at("page")] = batch.text(*r.page);
            row.values[layout_.at("at")] = r.time_us;
            row.event_time_us = r.time_us;
            row.passed_filters = filters_.evaluate(row.values);  // as the stage does (the numeric fixture leaves it to the writer)
            batch.rows.push_back(std::move(row));
        }
        // Each of the spec's dimensions (a group) keys a record by its user (so the sessions stay
        // the brute force's): several keys, one negative, each travelling as bigint.
        std::vector<std::vector<std::int64_t>> keys(spec_.dimensions.size());
        for (auto& d : keys)
            for (const auto& r : records) d.push_back(dimension_key(r.user));
        if (fold_up_front) {
            for (std::size_t r = 0; r < batch.rows.size(); ++r)
                for (const auto& d : keys) batch.rows[r].member_keys.push_back(d[r]);
            spec::SessionFold& fold = batch.session_folds.emplace_back(std::make_shared<const spec::FoldedSession>(spec::folded_sessions(spec_, layout_, filters_).at(0)), 0);
            for (const auto& row : batch.rows) fold.add(batch.rows, row.member_keys, filters_);
            fold.seal();
        }
        std::vector<bool> counted;
        for (const auto& r : records) counted.push_back(r.counted);
        const std::int64_t before = std::stoll(query_rows(*conn_, "SELECT count(*) FROM win_visits").at(0).at(0));
        const Merged merged = merge_committed(*conn_, *writer_, batch, keys, counted);
        EXPECT_EQ(merged.late.by_policy, (std::array<std::uint64_t, 3>{}));
        // The row counts reported: every new session inserted, every one merged away deleted.
        EXPECT_EQ(std::stoll(query_rows(*conn_, "SELECT count(*) FROM win_visits").at(0).at(0)), before + merged.rows.inserted - merged.rows.deleted);
        if (std::any_of(records.begin(), records.end(), [](const Record& r) { return r.counted; })) {
            EXPECT_GE(merged.rows.inserted + merged.rows.updated, 1);
        }
    }

    /// The dimension key of a user's records: -7 for "" (the empty user), else its length.
    static std::int64_t dimension_key(const std::string& user) { return user.empty() ? -7 : static_cast<std::int64_t>(user.size()); }

    /// Random records for three users ("" one of them) on a grid of a quarter gap (records tie, lie exactly one gap
    /// apart, and bridge sessions), in random batches, random order, some not new (a duplicate
    /// could bridge two sessions if it were counted), most batches folded by the stage; after
    /// each batch the stored sessions' `columns` (places in kColumns) must equal the brute
    /// force's over the records counted.
    void random_batches_match_the_brute_force(const std::vector<std::size_t>& columns) {
        for (unsigned seed = 1; seed <= 12; ++seed) {
            conn_->exec("TRUNCATE win_visits");
            std::mt19937_64 rng(seed);
            auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
            std::vector<Record> records;
            for (int i = 0; i < 160; ++i) {
                const int user = pick(3);  // "" too: an empty key is a key
                Record r{user ? "u" + std::to_string(user) : "", pick(3) == 0 ? "buy" : "view", kBaseUs + pick(60) * (kGapUs / 4), std::nullopt, std::nullopt};
                if (pick(5)) r.amount = pick(200) - 50;
                if (pick(5)) r.page = std::string(1, static_cast<char>('a' + pick(4))) + (pick(2) ? "B" : "b");  // "aB" < "ab" bytewise
                r.counted = pick(6) != 0;
                records.push_back(std::move(r));
            }
            std::shuffle(records.begin(), records.end(), rng);
            std::vector<Record> written;
            for (std::size_t at = 0; at < records.size();) {
                const std::size_t n = std::min(records.size() - at, static_cast<std::size_t>(1 + pick(25)));
                const std::vector<Record> batch(records.begin() + static_cast<std::ptrdiff_t>(at), records.begin() + static_cast<std::ptrdiff_t>(at + n));
                write(batch, pick(4) != 0);
                for (const Record& r : batch)
                    if (r.counted) written.push_back(r);
                at += n;
                ASSERT_EQ(stored(*conn_, columns), projected(oracle(written), columns)) << "seed " << seed << " after " << written.size() << " records";
            }
        }
    }

    const spec::PipelineSpec spec_;
    const spec::ReferenceLayout layout_{spec_};
    const spec::RecordFilters filters_{spec_, layout_};
    BinaryCopyWriter copy_;
    std::unique_ptr<PgConnection> conn_;
    std::unique_ptr<SpecSessionWriter> writer_;
};

TEST_F(SpecSessionWriterTest, RandomBatchesInRandomOrderEqualTheBruteForce) {
    ASSERT_FALSE(writer_->copies_new_sessions());  // sum, min, max and avg: every island through the merge statement
    random_batches_match_the_brute_force(all_columns());
}

// ---- new sessions copied straight in: a table of counts, any and first/last of text, grouped by
// a dimension's key ---------------------------------------------------------------------------

/// kSpec without its sum, min, max and avg, and with a dimension's key as a group.
std::string counting_spec() {
    std::string spec = kSpec;
    for (const char* line : {"      spent: sum(amount)\n", "      low: min(amount)\n", "      high: max(amount)\n", "      mean: avg(amount)\n"})
        spec.erase(spec.find(line), std::strlen(line));
    spec.insert(spec.find("facts:"), "dimensions:\n  dim_kind: {key: [kind]}\n");
    spec.insert(spec.find("    aggregates:"), "    group_by: [dim_kind]\n");
    return spec;
}

class SpecSessionCopyTest : public SpecSessionWriterTest {
protected:
    SpecSessionCopyTest() : SpecSessionWriterTest(counting_spec()) {}
};

TEST_F(SpecSessionCopyTest, RandomBatchesOfNewAndStoredSessionsEqualTheBruteForce) {
    ASSERT_TRUE(writer_->copies_new_sessions());
    random_batches_match_the_brute_force({0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18});
    EXPECT_EQ(query_rows(*conn_, "SELECT DISTINCT kind_key FROM win_visits ORDER BY 1"), (std::vector<Row>{{"-7"}, {"2"}}));
}

TEST_F(SpecSessionWriterTest, ARecordBridgingTwoSessionsMergesTheirRows) {
    const std::vector<Record> two = {{"u1", "buy", kBaseUs, 10, std::string("x")}, {"u1", "view", kBaseUs + 3 * kGapUs / 2, 5, std::string("y")}};
    write(two);
    ASSERT_EQ(stored(*conn_).size(), 2u);
    // Exactly one gap from both: a session of its own between them.
    const Record apart{"u1", "view", kBaseUs + 3 * kGapUs / 2 + kGapUs, std::nullopt, std::nullopt};
    write({apart});
    ASSERT_EQ(stored(*conn_).size(), 3u);
    // Within the gap of the first two: one session of the three, the later row gone; the one a
    // gap after them stays apart.
    const Record bridge{"u1", "view", kBaseUs + 3 * kGapUs / 4, std::nullopt, std::string("z")};
    write({bridge});
    const std::vector<Row> rows = stored(*conn_);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows, oracle({two[0], two[1], apart, bridge}));
    EXPECT_EQ(rows[0][1], std::to_string(kBaseUs));
    EXPECT_EQ(rows[0][4], "3");
    // Just within the gap after the last session's last record: the latest stored session
    // starts before it (the lock's one probe), and it extends that session alone.
    const Record extend{"u1", "buy", kBaseUs + 3 * kGapUs / 2 + 2 * kGapUs - 1, std::nullopt, std::nullopt};
    write({extend});
    EXPECT_EQ(stored(*conn_), oracle({two[0], two[1], apart, bridge, extend}));
    EXPECT_EQ(stored(*conn_).size(), 2u);
}


// ---- adversarial: numeric key and values equal by type but not by text, NULL candidates,
// aggregates whose filter no record passes ---------------------------------------------------

const std::string kNumericSpec = R"(pipeline: tills
source: {topics: [tills], format: json}
fields:
  id: {pointer: /id, type: integer, required: true}
  till: {pointer: /till, type: numeric, required: true}
  kind: {pointer: /kind, type: text, required: true}
  price: {pointer: /price, type: numeric}
  at: {pointer: /at, type: timestamp, unit: us, required: true}
event: {id: id, time: at}
facts:
  fact_till: {grain: event, columns: [id, till, kind, price, at]}
windows:
  win_tills:
    session: {gap: 10m, key: till}
    aggregates:
      records: count
      lo: first(price)
      hi: last(price)
      total: sum(price)
      mean: avg(price)
      least: min(price)
      most: max(price)
      refunds: {function: count, where: {kind: refund}}
      refunded: {function: sum, of: price, where: {kind: refund}}
      refund_mean: {function: avg, of: price, where: {kind: refund}}
      refund_low: {function: min, of: price, where: {kind: refund}}
      first_refund: {function: first, of: price, where: {kind: refund}}
      last_refund: {function: last, of: price, where: {kind: refund}}
      any_refund: {function: any, where: {kind: refund}}
)";

class SpecSessionNumericTest : public ::testing::Test {
protected:
    struct Sale {
        std::string till;
        std::int64_t t = 0;
        std::optional<std::string> price;
        std::string kind = "sale";
    };
    void SetUp() override {
        conn_ = test::spec_database("spec_sessions_numeric", spec_);
        writer_ = std::make_unique<SpecSessionWriter>(*conn_, copy_, spec_, layout_, spec_.windows.at(0), filters_);
    }
    void write(const std::vector<Sale>& sales) {
        spec::SpecBatch batch;
        for (const auto& s : sales) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = std::int64_t{static_cast<std::int64_t>(batch.rows.size())};
            row.values[layout_.at("till")] = batch.text(s.till);
            row.values[layout_.at("kind")] = batch.text(s.kind);
            if (s.price) row.values[layout_.at("price")] = batch.text(*s.price);
            row.values[layout_.at("at")] = s.t;
            row.event_time_us = s.t;
            batch.rows.push_back(std::move(row));
        }
        merge_committed(*conn_, *writer_, batch);
    }
    std::vector<Row> rows(const std::string& columns) { return query_rows(*conn_, "SELECT " + columns + " FROM win_tills ORDER BY till, window_start"); }
    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kNumericSpec, "tills.yaml");
    const spec::ReferenceLayout layout_{spec_};
    const spec::RecordFilters filters_{spec_, layout_};
    BinaryCopyWriter copy_;
    std::unique_ptr<PgConnection> conn_;
    std::unique_ptr<SpecSessionWriter> writer_;
};

TEST_F(SpecSessionNumericTest, EqualByTypeNotByTextNullCandidatesAndFiltersNothingPasses) {
    // One batch: till "1.0" and "1" (one key by type) overlap; at the first time a NULL price and
    // "2.50"/"2.5" tie; at the last time "3"/"3.00" tie.
    write({{"1.0", kBaseUs, std::string("2.50")}, {"1", kBaseUs, std::nullopt}, {"1", kBaseUs, std::string("2.5")},
           {"1.0", kBaseUs + kGapUs / 2, std::string("7")}, {"1", kBaseUs + kGapUs, std::string("3")}, {"1.0", kBaseUs + kGapUs, std::string("3.00")}});
    const auto got = rows("records, lo, (hi = 3)::text, total, round(mean, 6), (least = 2.5)::text, most, refunds, refunded, refund_mean, refund_low, first_refund,"
                          " first_refund_event_time IS NULL, last_refund, any_refund, (till = 1)::text");
    ASSERT_EQ(got.size(), 1u) << fmt::format("{}", fmt::join(got.size() ? got[0] : Row{}, ","));
    // first: the NULL price is the least at the earliest time (NULL lowest).
    EXPECT_EQ(got[0], (Row{"6", "-", "true", "18.00", "3.600000", "true", "7", "0", "-", "-", "-", "-", "t", "-", "f", "true"}));
    // Split the same records over batches in another order: the same session.
    conn_->exec("TRUNCATE win_tills");
    write({{"1", kBaseUs + kGapUs, std::string("3")}});
    write({{"1.0", kBaseUs + kGapUs, std::string("3.00")}, {"1.0", kBaseUs + kGapUs / 2, std::string("7")}});
    write({{"1", kBaseUs, std::string("2.5")}, {"1.0", kBaseUs, std::string("2.50")}});
    write({{"1", kBaseUs, std::nullopt}});
    const auto again = rows("records, lo, (hi = 3)::text, total, round(mean, 6), (least = 2.5)::text, most, refunds, refunded, refund_mean, refund_low, first_refund,"
                            " first_refund_event_time IS NULL, last_refund, any_refund, (till = 1)::text");
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0], got[0]);
}

}  // namespace
}  // namespace starstream::daemon::postgres
