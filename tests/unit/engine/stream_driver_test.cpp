// StreamDriver end to end inside the engine: librdkafka's mock cluster as the source, an
// in-memory ledger as the store and sink (driver_fakes.h). Each test sets up what a user or an
// operator does to a running instance (a database that fails or loses a COMMIT's reply, another
// instance taking a partition, an operator rewinding one, a database that stops answering) and
// checks the ledger against the log: every record in exactly one place, and every batch sealed by
// its stage after its last record.
#include "driver/stream_driver.h"

#include "driver_fakes.h"
#include "mock_cluster.h"

#include <gtest/gtest.h>

#include <thread>

using namespace starstream::engine;
using namespace starstream::engine::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kTopic = "driver";
constexpr int kPartitions = 3;
constexpr int kPerPartition = 1500;
constexpr std::int64_t kMaxRecords = 100;

/// Event times one second apart from 2023-11-14; every 97th record of a partition is garbage.
std::string payload(int, int i) { return i % 97 == 96 ? "not-a-time" : std::to_string(1700000000 + i); }
bool is_garbage(std::int64_t offset) { return offset % 97 == 96; }

class StreamDriverTest : public ::testing::Test {
protected:
    MockCluster cluster{kTopic, kPartitions, kPerPartition, payload};
    Ledger ledger;
    LedgerStore store{ledger, "me"};
    LedgerSink sink{ledger};
    SecondsStage stage;
    QuietSinkObserver sink_observer;
    CountingDriverObserver observer;

    DriverSettings settings(const std::string& group) const {
        DriverSettings s;
        s.kafka = {{"bootstrap.servers", cluster.bootstrap()}, {"group.id", group}};
        s.topics = {kTopic};
        s.instance_id = "me";
        s.trigger = {50ms, static_cast<std::size_t>(kMaxRecords), 1u << 20};
        s.bounds.min_us = 0;
        s.retry_initial = 5ms;
        s.retry_max = 20ms;
        s.shutdown_timeout = 5s;
        s.ownership_check_interval = 100ms;
        s.stop_when_caught_up = true;
        return s;
    }

    /// Runs a driver of group `group` until it is caught up; `meanwhile` runs on the test's
    /// thread while it does. Past 60 s the driver is stopped (and the ledger checks fail).
    void run_until_caught_up(const std::string& group, const std::function<void()>& meanwhile = [] {}) {
        StreamDriver driver(settings(group), stage, store, sink, sink_observer, observer);
        ASSERT_TRUE(driver.wait_for_source());
        std::atomic<bool> done{false};
        std::thread running([&] {
            driver.run();
            done = true;
        });
        meanwhile();
        for (const auto until = Clock::now() + 60s; !done && Clock::now() < until;) std::this_thread::sleep_for(10ms);
        if (!done) ADD_FAILURE() << "not caught up within 60 s";
        if (!done) StreamDriver::request_stop();  // the flag stays set: later tests of this binary stop at once
        running.join();
    }

    /// Every valid record of `tp` from `from` on is written exactly once; garbage is dead-lettered once.
    void expect_exactly_once(int partition, std::int64_t from = 0) {
        const TopicPartition tp{kTopic, partition};
        std::lock_guard lock(ledger.mutex);
        for (std::int64_t o = from; o < kPerPartition; ++o)
            ASSERT_EQ(ledger.rows[tp].count(o), is_garbage(o) ? 0u : 1u) << tp.to_string() << " offset " << o;
        std::size_t garbage = 0;
        for (const auto& d : ledger.dead_letters) {
            if (d.partition != partition || d.offset < from) continue;
            ++garbage;
            EXPECT_TRUE(is_garbage(d.offset)) << d.offset;
        }
        EXPECT_EQ(garbage, static_cast<std::size_t>((kPerPartition - from) / 97)) << tp.to_string();
        EXPECT_EQ(ledger.progress[tp].next_offset, kPerPartition) << tp.to_string();
    }
};

}  // namespace

TEST_F(StreamDriverTest, FailedAndLostCommitsChangeNothing) {
    // The second and fourth commits: one fails before committing, one commits and loses its reply.
    sink.after_commit = [&](Ledger& l) {
        if (l.commits == 1) sink.transient_failures = 2;
        if (l.commits == 3) sink.lost_replies = 1;
    };
    run_until_caught_up("failures");
    for (int p = 0; p < kPartitions; ++p) expect_exactly_once(p);
    EXPECT_EQ(observer.consumed_records, kPartitions * kPerPartition);
    EXPECT_GE(sink.writes, ledger.commits + 2) << "the failed writes were retried";
}

TEST_F(StreamDriverTest, APartitionAnotherInstanceClaimedIsLeftToIt) {
    const TopicPartition taken{kTopic, 0};
    std::int64_t taken_at = -1;
    sink.after_commit = [&](Ledger& l) {
        // Once partition 0 has committed something, another instance claims it (its claim bumps the epoch).
        auto& p = l.progress[taken];
        if (taken_at >= 0 || p.next_offset <= 0) return;
        taken_at = p.next_offset;
        ++p.epoch;
        p.owner = "other";
    };
    run_until_caught_up("fenced");
    ASSERT_GE(taken_at, 0);
    {
        std::lock_guard lock(ledger.mutex);
        EXPECT_EQ(ledger.progress[taken].next_offset, taken_at) << "nothing of partition 0 committed after the claim";
        EXPECT_EQ(ledger.progress[taken].owner, "other");
        for (std::int64_t o : ledger.rows[taken]) EXPECT_LT(o, taken_at);
    }
    for (int p = 1; p < kPartitions; ++p) expect_exactly_once(p);
}

TEST_F(StreamDriverTest, AnOperatorsRewindIsFollowedWithoutARestart) {
    const TopicPartition rewound{kTopic, 1};
    std::int64_t committed_before = -1;
    sink.after_commit = [&](Ledger& l) {
        // Once partition 1 has committed something, the documented online reset: next offset
        // back to 0, epoch + 1, owner unchanged.
        auto& p = l.progress[rewound];
        if (committed_before >= 0 || p.next_offset <= 0) return;
        committed_before = p.next_offset;
        p.next_offset = 0;
        ++p.epoch;
    };
    run_until_caught_up("rewind");
    ASSERT_GT(committed_before, 0);
    {
        std::lock_guard lock(ledger.mutex);
        for (std::int64_t o = 0; o < kPerPartition; ++o) {
            const std::size_t expected = is_garbage(o) ? 0 : o < committed_before ? 2 : 1;
            ASSERT_EQ(ledger.rows[rewound].count(o), expected) << "offset " << o << ", rewound from " << committed_before;
        }
        EXPECT_EQ(ledger.progress[rewound].next_offset, kPerPartition);
        EXPECT_EQ(ledger.progress[rewound].owner, "me");
    }
    expect_exactly_once(0);
    expect_exactly_once(2);
}

TEST_F(StreamDriverTest, AStalledSinkStopsConsumptionAtTwoBatches) {
    sink.block(true);
    run_until_caught_up("backpressure", [&] {
        // One batch is with the sink, the next fills up; then nothing more is taken.
        for (const auto until = Clock::now() + 30s; observer.consumed_records < 2 * kMaxRecords && Clock::now() < until;)
            std::this_thread::sleep_for(5ms);
        EXPECT_GE(observer.consumed_records, 2 * kMaxRecords);
        // Proving that something does not happen takes a while: half a second is 10 trigger intervals.
        std::this_thread::sleep_for(500ms);
        EXPECT_LE(observer.consumed_records, 2 * kMaxRecords) << "the driver kept consuming while the sink was stalled";
        sink.block(false);
    });
    for (int p = 0; p < kPartitions; ++p) expect_exactly_once(p);
    // The hand-off waited, records kept coming into the waiting batch: each was sealed again.
    EXPECT_EQ(sink.unsealed_writes, 0) << "a batch reached the sink with records its stage had not sealed";
}
