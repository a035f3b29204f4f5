#include "batch/batch_handoff.h"

#include <gtest/gtest.h>

#include <thread>

using namespace std::chrono_literals;
using starstream::engine::BatchHandoff;

TEST(BatchHandoff, OneSlotRefusesASecondBatchUntilTaken) {
    BatchHandoff<int> h;
    int a = 1, b = 2;
    EXPECT_TRUE(h.try_offer(a));
    EXPECT_FALSE(h.try_offer(b));
    EXPECT_EQ(b, 2);  // a refused batch is left to the caller
    auto taken = h.take(0ms);
    ASSERT_TRUE(taken);
    EXPECT_EQ(*taken, 1);
    EXPECT_FALSE(h.idle());  // being written
    EXPECT_TRUE(h.try_offer(b));
    h.take(0ms);
    h.done();
    EXPECT_TRUE(h.idle());
}

TEST(BatchHandoff, WaitIdleReturnsWhenTheSinkIsDone) {
    BatchHandoff<int> h;
    int a = 1;
    ASSERT_TRUE(h.try_offer(a));
    std::thread sink([&] {
        auto batch = h.take(1000ms);
        ASSERT_TRUE(batch);
        h.done();
    });
    EXPECT_TRUE(h.wait_idle(10000ms));
    sink.join();
}

TEST(BatchHandoff, CloseWakesTheSinkAndRefusesOffers) {
    BatchHandoff<int> h;
    std::thread sink([&] { EXPECT_FALSE(h.take(10000ms)); });
    h.close();
    sink.join();
    int a = 1;
    EXPECT_FALSE(h.try_offer(a));
}
