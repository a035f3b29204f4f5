#include "batch/trigger_policy.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using starstream::engine::TriggerPolicy;

TEST(TriggerPolicy, FiresOnTheFirstLimitReached) {
    TriggerPolicy t{1000ms, 10, 1000};
    EXPECT_FALSE(t.fires(0, 0, 5000ms));  // an empty batch never fires
    EXPECT_FALSE(t.fires(9, 999, 999ms));
    EXPECT_TRUE(t.fires(10, 0, 0ms));
    EXPECT_TRUE(t.fires(1, 1000, 0ms));
    EXPECT_TRUE(t.fires(1, 1, 1000ms));
    EXPECT_TRUE(t.full(10, 0));
    EXPECT_FALSE(t.full(9, 999));
}
