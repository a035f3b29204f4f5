// Spec table names whose staging tables used to share a name, against a real PostgreSQL: a fact
// named late_event (the late records' staging table was stage_spec_late_event), a session table t
// beside a table t_met (t's met sessions were staged in stage_spec_t_met), two window tables
// whose names differ only after their 52nd byte (stage_spec_<name> was cut at 63 bytes, so both
// staged into one table), and a table named as another's stage (stage_spec_win_sessions: the temp
// stage hid it; and the dead letters' stage_dead_letter). Every table must receive exactly its
// own rows; before temp_table_name.h the writer could not even be constructed ("already exists").
#include "sink/postgres/spec_batch_writer.h"

#include "local_postgres_server.h"
#include "spec_database.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/spec_reader.h"

#include <gtest/gtest.h>

#include <set>

namespace starstream::daemon::postgres {
namespace {

constexpr std::int64_t kAtUs = 1767225600000000;  // 2026-01-01 UTC
constexpr std::int64_t kMinuteUs = 60000000;

// Two names of 62 bytes that share their first 61.
const std::string kLongA = "win_views_per_user_in_tumbling_windows_of_one_minute_each_ok_a";
const std::string kLongB = "win_views_per_user_in_tumbling_windows_of_one_minute_each_ok_b";

const std::string kSpec = R"yaml(pipeline: names
source: {topics: [names], format: json}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  user: {pointer: /user, type: text, required: true}
event: {id: id, time: at}
facts:
  late_event: {grain: event, columns: [id, user, at]}
  stage_dead_letter: {grain: event, columns: [id, user]}
windows:
  )yaml" + kLongA + R"yaml(: {tumbling: 1m, group_by: [user], aggregates: {views: count}}
  )yaml" + kLongB + R"yaml(: {tumbling: 1m, group_by: [user], aggregates: {views: count}, where: {user: u1}}
  win_sessions: {session: {gap: 10m, key: user}, aggregates: {records: count}}
  win_sessions_met: {tumbling: 1h, group_by: [user], aggregates: {views: count}}
  stage_spec_win_sessions: {tumbling: 1h, group_by: [user], aggregates: {views: count}}
)yaml";

TEST(TempTableNameTest, NamesAreUniqueWithinPostgresLimitAndNeverASpecTablesName) {
    std::set<std::string> names;
    for (int round = 0; round < 2; ++round)  // the same table and role again: another table
        for (const auto& table : {kLongA, kLongB, std::string("win_sessions"), std::string("win_sessions_met"), std::string("late_event"), std::string()})
            for (const char* role : {"", "met", "in", "input", "override"}) {
                const std::string name = temp_table_name("stage_spec", table, role);
                EXPECT_LE(name.size(), kMaxIdentifierBytes) << name;
                EXPECT_EQ(name.rfind("stage_spec$", 0), 0U) << name;
                EXPECT_EQ(name.find("$$"), std::string::npos) << name;  // no dollar-quote delimiter
                EXPECT_TRUE(names.insert(name).second) << name << " twice";
            }
}

class SpecStageNamesTest : public ::testing::Test {
protected:
    void SetUp() override {
        settings_.dsn = test::LocalPostgresServer::shared().create_database("stage_names");
        PgConnection conn(settings_);
        test::migrate_as_the_daemon(conn, spec_);
        reader_ = std::make_unique<PgConnection>(settings_);
    }

    std::string scalar(const std::string& sql) {
        PgResult r = reader_->exec(sql);
        return PQgetvalue(r.get(), 0, 0);
    }

    const spec::PipelineSpec spec_ = spec::parse_pipeline_spec(kSpec, "names.yaml");
    const spec::ReferenceLayout layout_{spec_};
    PgSettings settings_;
    std::unique_ptr<PgConnection> reader_;
};

TEST_F(SpecStageNamesTest, EveryTableGetsItsOwnRows) {
    SpecBatchWriter writer(settings_, spec_, std::vector<spec::PipelineSpec>{spec_}, "one");
    // Three records of u1 in one session (minutes 0, 1, 2), one of u2.
    spec::SpecBatch batch;
    batch.topics = {"names"};
    batch.batch_id = 1;
    const std::vector<std::pair<std::string, std::int64_t>> records = {{"u1", 0}, {"u1", 1}, {"u1", 2}, {"u2", 0}};
    for (std::size_t i = 0; i < records.size(); ++i) {
        spec::SpecRow row;
        row.values.resize(layout_.size());
        const std::int64_t at = kAtUs + records[i].second * kMinuteUs;
        row.values[layout_.at("id")] = batch.text("e" + std::to_string(i));
        row.values[layout_.at("at")] = at;
        row.values[layout_.at("user")] = batch.text(records[i].first);
        row.event_time_us = at;
        batch.min_event_time_us = std::min(batch.min_event_time_us, at);
        batch.max_event_time_us = std::max(batch.max_event_time_us, at);
        batch.rows.push_back(std::move(row));
    }
    batch.records = batch.rows.size();
    writer.write(batch);

    EXPECT_EQ(scalar("SELECT count(*) FROM late_event"), "4");
    EXPECT_EQ(scalar("SELECT count(*) FROM stage_dead_letter"), "4");
    EXPECT_EQ(scalar("SELECT count(*) || ' ' || sum(views) FROM " + kLongA), "4 4");  // u1 in 3 minutes, u2 in 1
    EXPECT_EQ(scalar("SELECT count(*) || ' ' || sum(views) FROM " + kLongB), "3 3");  // u1 only
    EXPECT_EQ(scalar("SELECT string_agg(\"user\" || ':' || records, ' ' ORDER BY \"user\") FROM win_sessions"), "u1:3 u2:1");
    EXPECT_EQ(scalar("SELECT string_agg(\"user\" || ':' || views, ' ' ORDER BY \"user\") FROM win_sessions_met"), "u1:3 u2:1");
    EXPECT_EQ(scalar("SELECT string_agg(\"user\" || ':' || views, ' ' ORDER BY \"user\") FROM stage_spec_win_sessions"), "u1:3 u2:1");
}

}  // namespace
}  // namespace starstream::daemon::postgres
