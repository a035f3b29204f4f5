// PipelineState with several pipelines (lanes): what /readyz and /livez see is the worst lane, so
// one pipeline's success never hides another's failure.
#include "lifecycle/pipeline_state.h"

#include <gtest/gtest.h>

#include <thread>

using namespace starstream::daemon;

TEST(PipelineState, OneLanesFailureIsNotHiddenByAnothersSuccess) {
    PipelineState state(2);
    state.commit_failed("lab: connection lost", true, 1);
    state.batch_committed({7, 100, 0, 0, 0, 0}, 0);
    auto s = state.snapshot();
    EXPECT_TRUE(s.last_commit_failed);
    EXPECT_EQ(s.last_error, "lab: connection lost");
    EXPECT_EQ(s.last_batch.batch_id, 7);
    state.postgres_checked(false, "product_view: unreachable", 0);
    EXPECT_FALSE(state.snapshot().postgres_reachable);
    state.batch_committed({8, 1, 0, 0, 0, 0}, 1);
    state.postgres_checked(true, {}, 0);
    s = state.snapshot();
    EXPECT_FALSE(s.last_commit_failed);
    EXPECT_TRUE(s.postgres_reachable);
}

TEST(PipelineState, AssignedReadyAndHeartbeatsNeedEveryLane) {
    PipelineState state(2);
    state.set_partitions({{"a", 0}}, true, 0);
    EXPECT_FALSE(state.snapshot().assigned);
    EXPECT_EQ(state.snapshot().partitions.size(), 1u);
    state.set_partitions({{"b", 0}, {"b", 1}}, true, 1);
    EXPECT_TRUE(state.snapshot().assigned);
    EXPECT_EQ(state.snapshot().partitions.size(), 3u);

    EXPECT_FALSE(state.mark_ready(0));
    EXPECT_FALSE(state.mark_ready(0)) << "a lane counts once";
    EXPECT_TRUE(state.mark_ready(1)) << "the call that completes the set";
    EXPECT_FALSE(state.mark_ready(1));

    const auto before = state.snapshot().consume_heartbeat;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a heartbeat later than `before`
    state.consume_beat(0);
    EXPECT_EQ(state.snapshot().consume_heartbeat, before) << "lane 1 has not beaten: the oldest counts";
    state.consume_beat(1);
    EXPECT_GT(state.snapshot().consume_heartbeat, before);
}
