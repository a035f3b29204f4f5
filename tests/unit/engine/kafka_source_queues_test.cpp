// KafkaSource against librdkafka's mock cluster (the real protocol, in process): records of a
// partition held for watermark alignment, or of every partition while poll() takes no record,
// stay queued and come later in offset order, none lost, none twice (per-partition queues,
// engine/source/partition_queues.h).
#include "source/kafka_source.h"

#include "mock_cluster.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace starstream::engine {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 2;
constexpr int kPerPartition = 300;
const char* const kTopic = "queues";

/// Every partition starts at its log start; revocations need no flush here.
class FromTheStart : public RebalanceListener {
public:
    std::map<TopicPartition, PartitionPosition> on_assigned(const std::vector<TopicPartition>& partitions) override {
        std::map<TopicPartition, PartitionPosition> positions;
        for (const auto& tp : partitions) positions[tp] = PartitionPosition{kFromLogStart, 1};
        return positions;
    }
    void on_revoked(const std::vector<TopicPartition>&) override {}
};

class KafkaSourceQueues : public ::testing::Test {
protected:
    KafkaSourceQueues()
        : source_({{"bootstrap.servers", cluster_.bootstrap()}, {"group.id", "queues-test"}}, {kTopic}, StartingOffsets::earliest, listener_) {
        source_.subscribe();
    }

    /// Polls for `duration`, recording each record's payload by partition.
    void poll_for(std::chrono::milliseconds duration, bool take_records = true) {
        for (const auto until = Clock::now() + duration; Clock::now() < until;) {
            PollResult r = source_.poll(20ms, take_records);
            if (r.record) seen_[r.record->partition()].emplace_back(r.record->payload());
        }
    }

    /// Polls until `condition` holds or `timeout` passes; true if it held.
    template <typename Condition>
    bool poll_until(Condition condition, std::chrono::milliseconds timeout) {
        for (const auto until = Clock::now() + timeout; Clock::now() < until;) {
            if (condition()) return true;
            poll_for(50ms);
        }
        return condition();
    }

    static std::vector<std::string> expected(int partition) {
        std::vector<std::string> payloads;
        for (int i = 0; i < kPerPartition; ++i) payloads.push_back(std::to_string(partition) + ":" + std::to_string(i));
        return payloads;
    }

    /// kPerPartition records per partition, whose payload is their partition and sequence number.
    testing::MockCluster cluster_{kTopic, kPartitions, kPerPartition, [](int p, int i) { return std::to_string(p) + ":" + std::to_string(i); }};
    FromTheStart listener_;
    KafkaSource source_;
    std::map<int, std::vector<std::string>> seen_;
};

TEST_F(KafkaSourceQueues, HeldPartitionYieldsNothingThenEverythingInOrder) {
    const TopicPartition held{kTopic, 0};
    // Join without taking a record, then hold partition 0 (holds only apply to assigned ones).
    for (const auto until = Clock::now() + 30s; source_.held_for_alignment().empty() && Clock::now() < until;) {
        source_.poll(20ms, /*take_records=*/false);
        source_.hold_for_alignment({held});
    }
    ASSERT_EQ(source_.held_for_alignment().count(held), 1u) << "partition 0 was never assigned";
    EXPECT_TRUE(seen_.empty());
    ASSERT_TRUE(poll_until([&] { return seen_[1].size() == kPerPartition; }, 30s)) << "partition 1 delivered " << seen_[1].size();
    poll_for(500ms);
    EXPECT_TRUE(seen_[0].empty()) << "a held partition delivered " << seen_[0].size() << " records";

    source_.hold_for_alignment({});
    ASSERT_TRUE(poll_until([&] { return seen_[0].size() >= kPerPartition; }, 30s)) << "partition 0 delivered " << seen_[0].size();
    poll_for(300ms);
    EXPECT_EQ(seen_[0], expected(0));
    EXPECT_EQ(seen_[1], expected(1));
}

TEST_F(KafkaSourceQueues, TakingNoRecordLosesNone) {
    ASSERT_TRUE(poll_until([&] { return !seen_.empty(); }, 30s)) << "nothing assigned or delivered";
    const auto taken = seen_;
    poll_for(500ms, /*take_records=*/false);  // backpressure: rebalances served, no record taken
    EXPECT_EQ(seen_, taken);
    ASSERT_TRUE(poll_until([&] { return seen_[0].size() >= kPerPartition && seen_[1].size() >= kPerPartition; }, 30s));
    poll_for(300ms);
    EXPECT_EQ(seen_[0], expected(0));
    EXPECT_EQ(seen_[1], expected(1));
}

}  // namespace
}  // namespace starstream::engine
