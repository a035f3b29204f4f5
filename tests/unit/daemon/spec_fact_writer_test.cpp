// A spec fact table (sink/postgres/spec_fact_writer.h) against a real PostgreSQL: the text COPY
// carries any text unchanged (tabs, newlines, backslashes, "\N"), and only the first record of
// each key, compared as the column's type, that the table does not hold yet is written, whether
// the key is staged as text (numeric) or in binary (uuid).
#include "sink/postgres/spec_fact_writer.h"

#include "spec_database.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/window_lock.h"  // kBeginReadCommitted
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace starstream::daemon::postgres {
namespace {

const std::string kSpec = R"(pipeline: notes
source: {topics: [notes], format: json}
fields:
  id: {pointer: /id, type: numeric, required: true}
  note: {pointer: /note, type: text}
  at: {pointer: /at, type: timestamp, unit: us, required: true}
event: {id: id, time: at}
facts:
  fact_note: {grain: event, columns: [id, note, at]}
)";

class SpecFactWriterTest : public ::testing::Test {
protected:
    void SetUp() override {
        conn_ = test::spec_database("spec_facts", spec_);
        writer_ = std::make_unique<SpecFactWriter>(*conn_, copy_, spec_, layout_, spec_.facts.at(0), std::vector<std::string>{});
    }

    /// One committed batch of (id, note) records; returns which were new and the table's rows.
    std::pair<std::vector<bool>, engine::TableRows> write(const std::vector<std::pair<std::string, std::optional<std::string>>>& records) {
        spec::SpecBatch batch;
        for (const auto& [id, note] : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(id);
            if (note) row.values[layout_.at("note")] = batch.text(*note);
            row.values[layout_.at("at")] = std::int64_t{1767225600LL * 1000000};
            batch.rows.push_back(std::move(row));
        }
        std::vector<bool> inserted;
        conn_->exec(kBeginReadCommitted);
        const engine::TableRows rows = writer_->write(batch, 0, batch.rows.size(), {}, inserted);
        conn_->exec("COMMIT");
        return {inserted, rows};
    }

    /// The stored note of `id` ("-" for NULL).
    std::string note(const std::string& id) {
        PgResult r = conn_->exec_params("SELECT note FROM fact_note WHERE id = $1::numeric", {id});
        if (PQntuples(r.get()) != 1) return "(" + std::to_string(PQntuples(r.get())) + " rows)";
        return PQgetisnull(r.get(), 0, 0) ? "-" : PQgetvalue(r.get(), 0, 0);
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "notes.yaml");
    const spec::ReferenceLayout layout_{spec_};
    BinaryCopyWriter copy_;
    std::unique_ptr<PgConnection> conn_;
    std::unique_ptr<SpecFactWriter> writer_;
};

TEST_F(SpecFactWriterTest, AnyTextCrossesTheTextCopyUnchanged) {
    const std::vector<std::string> texts = {"tab\there", "line\nbreak", "carriage\rreturn", "back\\slash", "\\N", "\\\\t", "", "ünïcödé \"quoted\""};
    std::vector<std::pair<std::string, std::optional<std::string>>> records;
    for (std::size_t i = 0; i < texts.size(); ++i) records.push_back({std::to_string(i), texts[i]});
    records.push_back({"99", std::nullopt});
    const auto [inserted, rows] = write(records);
    EXPECT_EQ(rows.inserted, static_cast<std::int64_t>(records.size()));
    for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(note(std::to_string(i)), texts[i]) << i;
    EXPECT_EQ(note("99"), "-") << "no value is NULL";
}

TEST_F(SpecFactWriterTest, OnlyTheFirstRecordOfAKeyTheTableDoesNotHoldIsWritten) {
    write({{"1", "one"}, {"2", "two"}});
    // 2 is held; 3 comes three times, once as "3.0" (the same numeric); 4 is new.
    const auto [inserted, rows] = write({{"2", "again"}, {"3", "first"}, {"3", "second"}, {"3.0", "third"}, {"4", "four"}});
    EXPECT_EQ(inserted, (std::vector<bool>{false, true, false, false, true}));
    EXPECT_EQ(rows.inserted, 2);
    EXPECT_EQ(rows.unchanged, 3);
    EXPECT_EQ(note("2"), "two");
    EXPECT_EQ(note("3"), "first");
    EXPECT_EQ(note("4"), "four");
}

/// Every column type with a binary form (binary COPY), and a smallint the spec's integer may not fit.
const std::string kTypedSpec = R"(pipeline: typed
source: {topics: [typed], format: json}
fields:
  id: {pointer: /id, type: uuid, required: true}
  at: {pointer: /at, type: timestamp, unit: us, required: true}
  n: {pointer: /n, type: integer}
  small: {pointer: /small, type: integer}
  ratio: {pointer: /ratio, type: double}
  flag: {pointer: /flag, type: boolean}
  ip: {pointer: /ip, type: inet}
  doc: {pointer: /doc, type: jsonb}
  label: {pointer: /label, type: text}
event: {id: id, time: at}
facts:
  fact_typed: {grain: event, columns: [id, at, n, small, ratio, flag, ip, doc, label]}
)";

TEST(SpecFactWriterBinaryTest, ValuesReadAsTheTextInputReadsThemAndOneThatDoesNotFitIsRefusedByPostgres) {
    const spec::PipelineSpec spec = spec::parse_pipeline_spec(kTypedSpec, "typed.yaml");
    const spec::ReferenceLayout layout{spec};
    const auto database = test::spec_database("spec_facts_typed", spec);
    PgConnection& conn = *database;
    conn.exec("ALTER TABLE fact_typed ALTER small TYPE smallint");  // narrower than the spec's integer
    BinaryCopyWriter copy;
    SpecFactWriter writer(conn, copy, spec, layout, spec.facts.at(0), {});
    auto write = [&](const std::string& id, std::int64_t small) {
        spec::SpecBatch batch;
        spec::SpecRow row;
        row.values.resize(layout.size());
        row.values[layout.at("id")] = batch.text(id);
        row.values[layout.at("at")] = std::int64_t{1767225600123456};
        row.values[layout.at("n")] = std::int64_t{-9007199254740993};
        row.values[layout.at("small")] = small;
        row.values[layout.at("ratio")] = 0.1;
        row.values[layout.at("flag")] = true;
        row.values[layout.at("ip")] = batch.text("2001:db8::1");
        row.values[layout.at("doc")] = batch.text(R"({"b":[1,2],"a":"x"})");
        row.values[layout.at("label")] = batch.text("tab\there");
        batch.rows.push_back(std::move(row));
        std::vector<bool> inserted;
        conn.exec(kBeginReadCommitted);
        try {
            writer.write(batch, 0, 1, {}, inserted);
            conn.exec("COMMIT");
        } catch (...) {
            conn.exec("ROLLBACK");
            throw;
        }
    };
    write("6f1c2a3b-0000-4000-8000-00000000000a", 7);
    PgResult r = conn.exec("SELECT id, at, n, small, ratio, flag, ip, doc, label FROM fact_typed");
    ASSERT_EQ(PQntuples(r.get()), 1);
    const std::vector<std::string> expected = {"6f1c2a3b-0000-4000-8000-00000000000a", "2026-01-01 00:00:00.123456+00", "-9007199254740993", "7", "0.1",
                                               "t", "2001:db8::1", R"({"a": "x", "b": [1, 2]})", "tab\there"};
    for (int c = 0; c < 9; ++c) EXPECT_EQ(PQgetvalue(r.get(), 0, c), expected[static_cast<std::size_t>(c)]) << c;
    try {
        write("6f1c2a3b-0000-4000-8000-00000000000b", 40000);
        ADD_FAILURE() << "40000 does not fit a smallint";
    } catch (const PgError& e) {
        EXPECT_EQ(e.sqlstate(), "22003") << e.what();  // numeric_value_out_of_range, a record's error: bisection pins it
    }
}

TEST(SpecFactWriterBinaryTest, BatchDuplicatesOfABinaryKeyAreDroppedAsTheTypeComparesThem) {
    // A uuid grain goes the binary way: the batch's duplicates dropped in C++, the held keys probed.
    // One uuid in two spellings (case) is one key, as PostgreSQL compares it.
    const spec::PipelineSpec spec = spec::parse_pipeline_spec(kTypedSpec, "typed.yaml");
    const spec::ReferenceLayout layout{spec};
    const auto database = test::spec_database("spec_facts_binary_key", spec);
    PgConnection& conn = *database;
    BinaryCopyWriter copy;
    SpecFactWriter writer(conn, copy, spec, layout, spec.facts.at(0), {});
    auto write = [&](const std::vector<std::pair<std::string, std::string>>& records) {
        spec::SpecBatch batch;
        for (const auto& [id, label] : records) {
            spec::SpecRow row;
            row.values.resize(layout.size());
            row.values[layout.at("id")] = batch.text(id);
            row.values[layout.at("at")] = std::int64_t{1767225600123456};
            row.values[layout.at("label")] = batch.text(label);
            batch.rows.push_back(std::move(row));
        }
        std::vector<bool> inserted;
        conn.exec(kBeginReadCommitted);
        const engine::TableRows rows = writer.write(batch, 0, batch.rows.size(), {}, inserted);
        conn.exec("COMMIT");
        return std::pair{inserted, rows};
    };
    const std::string a = "6f1c2a3b-0000-4000-8000-00000000000a", b = "6f1c2a3b-0000-4000-8000-00000000000b",
                      c = "6f1c2a3b-0000-4000-8000-00000000000c";
    write({{a, "a"}});
    const auto [inserted, rows] = write({{a, "a again"}, {b, "b"}, {"6F1C2A3B-0000-4000-8000-00000000000B", "b upper"}, {c, "c"}, {c, "c again"}});
    EXPECT_EQ(inserted, (std::vector<bool>{false, true, false, true, false}));
    EXPECT_EQ(rows.inserted, 2);
    EXPECT_EQ(rows.unchanged, 3);
    PgResult r = conn.exec("SELECT id, label FROM fact_typed ORDER BY id");
    ASSERT_EQ(PQntuples(r.get()), 3);
    const std::vector<std::pair<std::string, std::string>> expected = {{a, "a"}, {b, "b"}, {c, "c"}};
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(std::pair(std::string(PQgetvalue(r.get(), i, 0)), std::string(PQgetvalue(r.get(), i, 1))), expected[static_cast<std::size_t>(i)]) << i;
}

TEST(SpecFactWriterCollationTest, ATextKeyOfANondeterministicCollationIsOneKeyAsItsColumnComparesIt) {
    // An operator made the key case-insensitive: "x" and "X" are one key there, though not one
    // byte string, so the key is not deduplicated in C++ but by PostgreSQL, in the column's collation.
    const spec::PipelineSpec spec = spec::parse_pipeline_spec(R"(pipeline: tags
source: {topics: [tags], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: us, required: true}
event: {id: id, time: at}
facts:
  fact_tag: {grain: event, columns: [id, at]}
)", "tags.yaml");
    const spec::ReferenceLayout layout{spec};
    const auto database = test::spec_database("spec_facts_collation", spec);
    PgConnection& conn = *database;
    conn.exec("CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
              "ALTER TABLE fact_tag ALTER id TYPE text COLLATE case_insensitive");
    BinaryCopyWriter copy;
    SpecFactWriter writer(conn, copy, spec, layout, spec.facts.at(0), {});
    auto write = [&](const std::vector<std::string>& ids) {
        spec::SpecBatch batch;
        for (const auto& id : ids) {
            spec::SpecRow row;
            row.values.resize(layout.size());
            row.values[layout.at("id")] = batch.text(id);
            row.values[layout.at("at")] = std::int64_t{1767225600123456};
            batch.rows.push_back(std::move(row));
        }
        std::vector<bool> inserted;
        conn.exec(kBeginReadCommitted);
        writer.write(batch, 0, batch.rows.size(), {}, inserted);
        conn.exec("COMMIT");
        return inserted;
    };
    write({"held"});
    EXPECT_EQ(write({"x", "X", "HELD", "y"}), (std::vector<bool>{true, false, false, true}));
    PgResult r = conn.exec("SELECT id FROM fact_tag ORDER BY id COLLATE \"C\"");
    ASSERT_EQ(PQntuples(r.get()), 3);
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "held");
    EXPECT_STREQ(PQgetvalue(r.get(), 1, 0), "x");
    EXPECT_STREQ(PQgetvalue(r.get(), 2, 0), "y");
}

}  // namespace
}  // namespace starstream::daemon::postgres
