// A dimension key part whose value has several spellings (double 0 and -0, numeric "5.00" and
// "5"), against a real PostgreSQL: one member, and every fact's key is one its dimension holds,
// in one batch or two, and for a member stored under the key of another spelling (written before
// MemberKeys made the spelling canonical). Found by an adversarial review.
#include "sink/postgres/spec_batch_writer.h"

#include "local_postgres_server.h"
#include "spec_database.h"
#include "pipeline/surrogate_key.h"
#include "sink/postgres/pg_connection.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <cctype>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kAtUs = 1767225600000000;  // 2026-01-01 UTC

const std::string kSpec = R"yaml(pipeline: spellings
source: {topics: [spellings], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  ratio: {pointer: /ratio, type: double, required: true}
  price: {pointer: /price, type: numeric, required: true}
  label: {pointer: /label, type: text}
event: {id: id, time: at}
dimensions:
  dim_ratio: {key: [ratio], attributes: [label]}
  dim_price: {key: [price], attributes: [label], policy: derived}
facts:
  fact_spellings: {grain: event, dimensions: [dim_ratio, dim_price], columns: [id, at]}
)yaml";

struct Record {
    std::string id;
    double ratio = 0;
    std::string price;
};

class SpecDimensionSpellingsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string database = "spellings_";
        for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))
            database += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
        settings_.dsn = test::LocalPostgresServer::shared().create_database(database.substr(0, 60));
        PgConnection conn(settings_);
        test::migrate_as_the_daemon(conn, spec_);
        reader_ = std::make_unique<PgConnection>(settings_);
        writer_ = std::make_unique<SpecBatchWriter>(settings_, spec_, std::vector<spec::PipelineSpec>{spec_}, "one");
    }

    /// One micro-batch of `records`, committed (rows built by hand: the sink keys them).
    void write(const std::vector<Record>& records) {
        spec::SpecBatch batch;
        batch.topics = {"spellings"};
        batch.batch_id = next_batch_id_++;
        for (const Record& r : records) {
            spec::SpecRow row;
            row.values.resize(layout_.size());
            row.values[layout_.at("id")] = batch.text(r.id);
            row.values[layout_.at("at")] = kAtUs;
            row.values[layout_.at("ratio")] = r.ratio;
            row.values[layout_.at("price")] = batch.text(r.price);
            row.values[layout_.at("label")] = batch.text("label " + r.id);
            row.event_time_us = kAtUs;
            batch.min_event_time_us = std::min(batch.min_event_time_us, kAtUs);
            batch.max_event_time_us = std::max(batch.max_event_time_us, kAtUs);
            batch.rows.push_back(std::move(row));
        }
        batch.records = batch.rows.size();
        writer_->write(batch);
    }

    std::string scalar(const std::string& sql) {
        PgResult r = reader_->exec(sql);
        return PQgetvalue(r.get(), 0, 0);
    }
    /// Facts whose key in `dimension` (its `key` column) no row of it holds.
    std::string dangling(const std::string& dimension, const std::string& key) {
        return scalar("SELECT count(*) FROM fact_spellings f WHERE NOT EXISTS (SELECT 1 FROM " + dimension + " d WHERE d." + key + " = f." + key + ")");
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "spellings.yaml");
    const spec::ReferenceLayout layout_{spec_};
    PgSettings settings_;
    std::unique_ptr<PgConnection> reader_;
    std::unique_ptr<SpecBatchWriter> writer_;
    std::int64_t next_batch_id_ = 1;
};

TEST_F(SpecDimensionSpellingsTest, TwoSpellingsInTwoBatchesAreOneMember) {
    write({{"a", 0.0, "5.00"}});
    write({{"b", -0.0, "5"}});
    EXPECT_EQ(scalar("SELECT count(*) FROM dim_ratio"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM dim_price"), "1");
    EXPECT_EQ(dangling("dim_ratio", "ratio_key"), "0");
    EXPECT_EQ(dangling("dim_price", "price_key"), "0");
}

TEST_F(SpecDimensionSpellingsTest, TwoSpellingsInOneBatchCommit) {
    // Two members of one natural key in one merge would upsert its row twice (21000).
    write({{"a", 0.0, "5.00"}, {"b", -0.0, "5"}, {"c", 0.5, "+5.0"}});
    EXPECT_EQ(scalar("SELECT count(*) FROM dim_ratio"), "2");
    EXPECT_EQ(scalar("SELECT count(*) FROM dim_price"), "1");
    EXPECT_EQ(dangling("dim_ratio", "ratio_key"), "0");
    EXPECT_EQ(dangling("dim_price", "price_key"), "0");
}

TEST_F(SpecDimensionSpellingsTest, AMemberStoredUnderAnotherSpellingsKeyKeepsIt) {
    // As a deployment that merged "5.00" before the spelling was made canonical holds it.
    const std::int64_t old_key = surrogate_key("5.00");
    reader_->exec("INSERT INTO dim_price (price_key, price, label) VALUES (" + std::to_string(old_key) + ", 5.00, 'old')");
    write({{"a", 1.0, "5.00"}, {"b", 1.0, "5"}});
    write({{"c", 1.0, "5.0"}});
    EXPECT_EQ(scalar("SELECT count(*) FROM dim_price"), "1");
    EXPECT_EQ(scalar("SELECT count(DISTINCT price_key)::text || ' ' || min(price_key)::text FROM fact_spellings"), "1 " + std::to_string(old_key));
    EXPECT_EQ(dangling("dim_price", "price_key"), "0");
}

}  // namespace
}  // namespace starstream::daemon::postgres
