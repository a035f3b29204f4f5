// Which fold the sink writes (sink/postgres/stage_fold.h): the stage's folds of a batch
// (SpecStage appends and seals as the driver does) are taken for the whole batch with the keys
// the stage computed, once sealed; a bisection probe's sub-range, or a dimension key the merge changed, is
// folded again; a batch that loses rows while it fills (a partition revoked) drops its folds and
// keeps taking records, one that loses none (a revoked partition it holds nothing of) keeps them.
#include "sink/postgres/stage_fold.h"
#include "spec/spec_reader.h"
#include "spec/spec_stage.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

using namespace starstream::daemon;
using namespace starstream::daemon::spec;

namespace {

const std::string kSpec = R"yaml(pipeline: shops
source: {topics: [shops]}
fields:
  id: {pointer: /id, type: text, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  shop: {pointer: /shop, type: text, required: true}
  user: {pointer: /user, type: text, required: true}
event: {id: id, time: at}
dimensions:
  dim_shop: {key: [shop]}
facts:
  fact_shops: {grain: event, columns: [id]}
windows:
  win_shop_minutes:
    tumbling: 1m
    group_by: [dim_shop]
    aggregates: {sales: count, users: count_distinct(user)}
  win_visits:
    session: {gap: 10m, key: user}
    group_by: [dim_shop]
    aggregates: {events: count}
)yaml";

struct StageFolds : ::testing::Test {
    const PipelineSpec spec = parse_pipeline_spec(kSpec, "shops.yaml");
    SpecStage stage{spec, enrichment::EnrichmentSettings{}, 65536};
    const RecordFilters filters{spec, stage.layout()};
    std::unique_ptr<starstream::engine::MicroBatch> owner = stage.new_batch();
    SpecBatch& batch = static_cast<SpecBatch&>(*owner);
    std::shared_ptr<const FoldedWindow> window = std::make_shared<const FoldedWindow>(folded_windows(spec, stage.layout(), filters).at(0));
    std::shared_ptr<const FoldedSession> session = std::make_shared<const FoldedSession>(folded_sessions(spec, stage.layout(), filters).at(0));

    StageFolds() { batch.topics = {"shops"}; }

    void append(int from, int to, std::int32_t partition) {
        for (int i = from; i < to; ++i) {
            const auto decoded = stage.decode(R"({"id":"e)" + std::to_string(i) + R"(","at":)" + std::to_string(1700000000 + 7 * i) +
                                              R"(,"shop":"s)" + std::to_string(i % 3) + R"(","user":"u)" + std::to_string(i % 5) + "\"}");
            ASSERT_TRUE(decoded.ok()) << decoded.reason;
            batch.records++, batch.partition_records[{"shops", partition}]++;
            stage.append(batch, {0, partition, i});
        }
    }

    /// The stage's keys of rows [begin, end), per dimension: what an unchanged merge returns.
    std::vector<std::vector<std::int64_t>> stage_keys(std::size_t begin, std::size_t end) const {
        std::vector<std::vector<std::int64_t>> keys(spec.dimensions.size());
        for (std::size_t d = 0; d < keys.size(); ++d)
            for (std::size_t r = begin; r < end; ++r) keys[d].push_back(batch.rows[r].member_keys.at(d));
        return keys;
    }

    const WindowFold* window_fold(std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys, std::optional<WindowFold>& own) {
        return &postgres::fold_for_write(batch.window_folds, window, window->dimensions(), batch, begin, end, keys, filters, own);
    }
    const SessionFold* session_fold(std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys, std::optional<SessionFold>& own) {
        return &postgres::fold_for_write(batch.session_folds, session, session->dimensions(), batch, begin, end, keys, filters, own);
    }
};

}  // namespace

TEST_F(StageFolds, TheStagesFoldsAreTakenForTheWholeBatchWithItsKeysOnceSealed) {
    append(0, 40, 0);
    std::optional<WindowFold> own_window;
    std::optional<SessionFold> own_session;
    const auto keys = stage_keys(0, batch.rows.size());
    window_fold(0, batch.rows.size(), keys, own_window);
    session_fold(0, batch.rows.size(), keys, own_session);
    EXPECT_TRUE(own_window && own_session) << "a fold not sealed since its last row is not the stage's to give";
    own_window.reset(), own_session.reset();
    stage.seal(batch);
    EXPECT_EQ(window_fold(0, batch.rows.size(), keys, own_window), &batch.window_folds.at(0));
    EXPECT_EQ(session_fold(0, batch.rows.size(), keys, own_session), &batch.session_folds.at(0));
    EXPECT_FALSE(own_window || own_session);
    EXPECT_EQ(batch.session_folds.at(0).admitted().size(), batch.rows.size());
}

TEST_F(StageFolds, ASubRangeOrAKeyTheMergeChangedIsFoldedAgain) {
    append(0, 40, 0);
    stage.seal(batch);
    std::optional<WindowFold> own_window;
    std::optional<SessionFold> own_session;
    // A bisection probe of rows [5, 25).
    const WindowFold* part = window_fold(5, 25, stage_keys(5, 25), own_window);
    ASSERT_TRUE(own_window);
    EXPECT_EQ(part, &*own_window);
    EXPECT_EQ(part->first_row(), 5u);
    EXPECT_EQ(part->rows(), 20u);
    const SessionFold* sessions = session_fold(5, 25, stage_keys(5, 25), own_session);
    ASSERT_TRUE(own_session);
    EXPECT_EQ(sessions->admitted().size(), 20u);
    // The whole batch, one row's shop key another than the stage's (a stored member's).
    auto keys = stage_keys(0, batch.rows.size());
    keys[0][7] = 424242;
    own_window.reset(), own_session.reset();
    const WindowFold* refolded = window_fold(0, batch.rows.size(), keys, own_window);
    ASSERT_TRUE(own_window);
    bool found = false;
    for (std::size_t c = 0; c < refolded->cells().size(); ++c) found = found || refolded->group_key(c, 0) == 424242;
    EXPECT_TRUE(found) << "the cells are grouped by the merged keys";
    session_fold(0, batch.rows.size(), keys, own_session);
    ASSERT_TRUE(own_session);
    found = false;
    for (const auto& a : own_session->admitted()) found = found || session_key_parts(own_session->key(a)).at(1) == "424242";
    EXPECT_TRUE(found) << "the sessions are keyed by the merged keys";
}

TEST_F(StageFolds, ABatchThatLosesRowsWhileItFillsDropsItsFoldsAndKeepsTakingRecords) {
    append(0, 20, 0);
    batch.drop_partitions({{"shops", 9}});  // revoked, nothing of it here: the folds stay
    EXPECT_EQ(batch.window_folds.size(), 1u);
    append(20, 30, 1);
    batch.drop_partitions({{"shops", 1}});
    EXPECT_TRUE(batch.window_folds.empty() && batch.session_folds.empty());
    append(30, 50, 0);  // appends no further fold (reading past the rows would be the danger)
    stage.seal(batch);
    ASSERT_EQ(batch.rows.size(), 40u);
    std::optional<WindowFold> own_window;
    const WindowFold* f = window_fold(0, batch.rows.size(), stage_keys(0, batch.rows.size()), own_window);
    ASSERT_TRUE(own_window);
    EXPECT_EQ(f->rows(), 40u);
}
