// BatchCheckpoint: what a batch commits per partition, built in one place.
#include "batch/batch_checkpoint.h"

#include <gtest/gtest.h>

using namespace starstream::engine;

TEST(BatchCheckpoint, RecordsMovesAndQuietPartitionsWithTheirWatermarks) {
    const TopicPartition a{"t", 0}, b{"t", 1}, quiet{"t", 2}, unknown{"t", 3};
    BatchCheckpoint c;
    c.consumed(a, 41, 7);
    c.consumed(a, 42, 7);   // resumes after the last record
    c.moved(b, 1000, 3);    // an offset gap: resumes at 1000 without a record
    const std::map<TopicPartition, std::int64_t> owned = {{a, 7}, {b, 3}, {quiet, 5}, {unknown, 9}};
    const std::map<TopicPartition, std::int64_t> next = {{a, 40}, {b, 10}, {quiet, 77}, {unknown, -1}};
    c.seal(owned, [&](const TopicPartition& tp) { return next.at(tp); }, [](const TopicPartition& tp) { return 1000 * (tp.partition + 1); });
    ASSERT_EQ(c.size(), 3u);  // no position known for `unknown`: nothing to commit for it
    EXPECT_EQ(c.at(a).next_offset, 43);  // the record wins over the tracked position
    EXPECT_EQ(c.at(a).epoch, 7);
    EXPECT_EQ(c.at(b).next_offset, 1000);
    EXPECT_EQ(c.at(quiet).next_offset, 77);
    EXPECT_EQ(c.at(quiet).epoch, 5);
    EXPECT_EQ(c.at(a).watermark_us, 1000);
    EXPECT_EQ(c.at(b).watermark_us, 2000);
    EXPECT_EQ(c.at(quiet).watermark_us, 3000);
    c.drop(b);  // fenced: not this batch's to commit
    EXPECT_EQ(c.size(), 2u);
    EXPECT_EQ(c.positions().count(b), 0u);
}
