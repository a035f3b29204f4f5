// SinkLoop against a scripted sink: what each typed result leads to (group commit, retry after
// resolving a lost COMMIT reply, fenced partitions dropped and reported, rejected rows
// dead-lettered with their raw bytes, stopping), with no database: the engine's own contract.
#include "driver/sink_loop.h"

#include "driver_fakes.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

using namespace starstream::engine;
using namespace std::chrono_literals;
using Status = SinkResult::Status;
using starstream::engine::testing::RowsBatch;

namespace {

const TopicPartition kP0{"t", 0}, kP1{"t", 1};

/// Returns the scripted results in order, then commits; records what each write saw.
struct ScriptedSink final : BatchSink {
    std::deque<std::function<SinkResult(MicroBatch&)>> writes;
    std::deque<Landing> landings;
    std::vector<std::size_t> rows_written;  ///< rows of the batch at each write
    int resolves = 0;
    std::int64_t next_id = 100;
    std::atomic<bool> abandoned{false};
    std::function<void()> progress;

    SinkResult write(MicroBatch& batch) override {
        if (batch.batch_id == 0) batch.batch_id = next_id++;
        rows_written.push_back(static_cast<RowsBatch&>(batch).rows.size());
        if (writes.empty()) return SinkResult::committed_with({});
        auto next = std::move(writes.front());
        writes.pop_front();
        return next(batch);
    }
    Landing resolve(const MicroBatch&) override {
        ++resolves;
        if (landings.empty()) return {};
        Landing l = landings.front();
        landings.pop_front();
        return l;
    }
    std::string check() override { return {}; }
    void abandon() override { abandoned = true; }
    std::string name() const override { return "the fake store"; }
    void on_progress(std::function<void()> beat) override { progress = std::move(beat); }
};

struct RecordingLink final : SourceLink {
    std::vector<std::map<TopicPartition, std::int64_t>> commits;
    void commit_offsets(const std::map<TopicPartition, std::int64_t>& next_offsets) override { commits.push_back(next_offsets); }
    std::optional<std::string> read_back(const TopicPartition& tp, std::int64_t offset) override {
        if (offset == 13) return std::nullopt;  // retention deleted it
        return tp.to_string() + "@" + std::to_string(offset);
    }
};

struct CountingObserver final : SinkObserver {
    std::atomic<int> committed_batches{0}, failed_writes{0}, retries{0}, landed{0}, rolled_back{0}, fenced_partitions{0}, rejected_rows{0};
    std::vector<DeadLetter> dead_letters;  ///< of the last committed batch
    std::atomic<int> beats{0};
    void beat() override { ++beats; }
    void committed(const MicroBatch& batch, const CommitReport&) override {
        ++committed_batches;
        dead_letters = batch.dead_letters;
    }
    void write_failed(const SinkResult&) override { ++failed_writes; }
    void retrying(const SinkResult&) override { ++retries; }
    void landing_resolved(bool l) override { ++(l ? landed : rolled_back); }
    void fenced(std::size_t n) override { fenced_partitions += static_cast<int>(n); }
    void rejected(std::size_t n) override { rejected_rows += static_cast<int>(n); }
    void checked(const std::string&) override {}
    void failed(const SinkFailure&) override {}
};

SinkResult transient(MicroBatch&) { return SinkResult::failed(Status::transient, "connection lost", "08006"); }

class SinkLoopTest : public ::testing::Test {
protected:
    BatchQueue queue;
    ScriptedSink sink;
    RecordingLink link;
    CountingObserver observer;
    SinkLoop loop{SinkLoopSettings{5ms, 20ms, 1h, 3}, queue, sink, link, observer};

    void SetUp() override { loop.start(); }
    void TearDown() override { loop.stop(); }

    /// A batch of offsets 10..14 on partition 0 (epoch 7) and 20..21 on partition 1 (epoch 3).
    static std::unique_ptr<MicroBatch> batch() {
        auto b = std::make_unique<RowsBatch>();
        for (std::int64_t o = 10; o < 15; ++o) b->add(kP0, o, 7);
        for (std::int64_t o = 20; o < 22; ++o) b->add(kP1, o, 3);
        return b;
    }
    /// Hands `b` to the loop and waits (deadline 10 s) until the loop is done with it.
    void write(std::unique_ptr<MicroBatch> b) {
        ASSERT_TRUE(queue.try_offer(b));
        ASSERT_TRUE(queue.wait_idle(10s)) << "the loop did not finish the batch";
    }
};

}  // namespace

TEST_F(SinkLoopTest, ACommittedBatchCommitsItsNextOffsetsToTheGroup) {
    write(batch());
    ASSERT_EQ(link.commits.size(), 1u);
    EXPECT_EQ(link.commits[0], (std::map<TopicPartition, std::int64_t>{{kP0, 15}, {kP1, 22}}));
    EXPECT_EQ(loop.committed_batches(), 1);
    EXPECT_EQ(loop.committed_records(), 7);
    EXPECT_FALSE(loop.failure());
}

TEST_F(SinkLoopTest, ABatchWhoseLostCommitLandedIsNotWrittenAgain) {
    sink.writes.push_back(transient);
    sink.landings.push_back({BatchSink::Landing::Outcome::unknown, "still unreachable"});  // asked again after a backoff
    sink.landings.push_back({BatchSink::Landing::Outcome::landed, {}});
    write(batch());
    EXPECT_EQ(sink.rows_written.size(), 1u) << "written once only";
    EXPECT_EQ(sink.resolves, 2);
    EXPECT_EQ(observer.landed, 1);
    EXPECT_EQ(link.commits.size(), 1u);
    EXPECT_EQ(loop.committed_batches(), 1);
}

TEST_F(SinkLoopTest, ATransientFailureThatRolledBackIsWrittenAgainWithItsId) {
    std::int64_t first_id = 0;
    sink.writes.push_back([&](MicroBatch& b) {
        first_id = b.batch_id;
        return transient(b);
    });
    sink.writes.push_back([&](MicroBatch& b) {
        EXPECT_EQ(b.batch_id, first_id) << "a retry keeps the batch id, so that resolve() can find it";
        return SinkResult::committed_with({});
    });
    write(batch());
    EXPECT_EQ(sink.rows_written, (std::vector<std::size_t>{7, 7}));
    EXPECT_EQ(observer.rolled_back, 1);
    EXPECT_EQ(observer.retries, 1);
    EXPECT_EQ(loop.committed_batches(), 1);
}

TEST_F(SinkLoopTest, FencedPartitionsLeaveTheBatchAndAreReportedWithTheirEpoch) {
    sink.writes.push_back([](MicroBatch&) {
        SinkResult r = SinkResult::failed(Status::fenced, "fenced");
        r.fenced = {kP1};
        return r;
    });
    write(batch());
    EXPECT_EQ(sink.rows_written, (std::vector<std::size_t>{7, 5})) << "written again at once without partition 1";
    ASSERT_EQ(link.commits.size(), 1u);
    EXPECT_EQ(link.commits[0], (std::map<TopicPartition, std::int64_t>{{kP0, 15}})) << "no offset of a fenced partition";
    EXPECT_EQ(loop.committed_records(), 5);
    EXPECT_EQ(loop.take_fenced(), (std::map<TopicPartition, std::int64_t>{{kP1, 3}}));
    EXPECT_TRUE(loop.take_fenced().empty());
    EXPECT_EQ(observer.retries, 0) << "no backoff for a fence";
}

TEST_F(SinkLoopTest, RejectedRowsBecomeDeadLettersWithTheirRawRecordAndTheRestCommits) {
    sink.writes.push_back([](MicroBatch&) {
        SinkResult r = SinkResult::failed(Status::rejected, "check violated", "23514");
        r.rejected = {{1, kP0, 11, "23514", "rejected by the fake store: check", std::nullopt},
                      {3, kP0, 13, "23514", "rejected by the fake store: check", std::nullopt}};
        return r;
    });
    write(batch());
    EXPECT_EQ(sink.rows_written, (std::vector<std::size_t>{7, 5}));
    ASSERT_EQ(observer.dead_letters.size(), 2u);
    EXPECT_EQ(observer.dead_letters[0].offset, 11);
    EXPECT_EQ(observer.dead_letters[0].payload, "t[0]@11");
    EXPECT_EQ(observer.dead_letters[0].code, "23514");
    EXPECT_EQ(observer.dead_letters[0].reason, "rejected by the fake store: check");
    EXPECT_EQ(observer.dead_letters[1].payload, "") << "offset 13 is no longer in the log";
    EXPECT_NE(observer.dead_letters[1].reason.find("could not be read back"), std::string::npos);
    EXPECT_EQ(observer.rejected_rows, 2);
    EXPECT_EQ(loop.committed_records(), 7) << "every record is counted: committed or dead-lettered";
    EXPECT_EQ(link.commits.at(0).at(kP0), 15);
}

TEST_F(SinkLoopTest, ARejectionNoRowExplainsIsRetriedThenStopsTheLoop) {
    for (int i = 0; i < 3; ++i) sink.writes.push_back([](MicroBatch&) { return SinkResult::failed(Status::rejected, "unique violation", "23505"); });
    write(batch());
    EXPECT_EQ(sink.rows_written.size(), 3u);
    ASSERT_TRUE(loop.failure());
    EXPECT_TRUE(loop.failure()->refused);
    EXPECT_NE(loop.failure()->message.find("the fake store refuses it permanently"), std::string::npos);
    write(batch());  // discarded: the process is stopping, it is read again after the restart
    EXPECT_EQ(sink.rows_written.size(), 3u);
    EXPECT_TRUE(link.commits.empty());
}

TEST_F(SinkLoopTest, ARefusedBatchStopsAtOnce) {
    sink.writes.push_back([](MicroBatch&) { return SinkResult::failed(Status::refused, "permission denied", "42501"); });
    write(batch());
    EXPECT_EQ(sink.rows_written.size(), 1u);
    ASSERT_TRUE(loop.failure());
    EXPECT_TRUE(loop.failure()->refused);
    EXPECT_TRUE(link.commits.empty());
}

TEST_F(SinkLoopTest, AnExceptionFromTheSinkIsAFaultNotARefusal) {
    sink.writes.push_back([](MicroBatch&) -> SinkResult { throw std::runtime_error("bug"); });
    write(batch());
    ASSERT_TRUE(loop.failure());
    EXPECT_FALSE(loop.failure()->refused);
    EXPECT_NE(loop.failure()->message.find("bug"), std::string::npos);
}

TEST_F(SinkLoopTest, AbandonGivesTheFailingBatchUpWithoutCommittingOrFailing) {
    for (int i = 0; i < 1000; ++i) sink.writes.push_back(transient);  // an outage longer than the test
    auto b = batch();
    ASSERT_TRUE(queue.try_offer(b));
    // Poll until the loop is retrying, then give up as a shutdown deadline would.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (observer.retries < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_GE(observer.retries, 2);
    loop.abandon();
    ASSERT_TRUE(queue.wait_idle(10s));
    EXPECT_TRUE(sink.abandoned);
    EXPECT_TRUE(link.commits.empty());
    EXPECT_EQ(loop.committed_batches(), 0);
    EXPECT_FALSE(loop.failure());
}

TEST_F(SinkLoopTest, ALongIsolationReportsProgressSoAWatchdogDoesNotKillIt) {
    ASSERT_TRUE(sink.progress) << "the loop hands the sink its progress callback";
    int during = 0;
    sink.writes.push_back([&](MicroBatch&) {
        const int before = observer.beats;
        for (int probe = 0; probe < 20; ++probe) sink.progress();  // a bisection's probes
        during = observer.beats - before;
        SinkResult r = SinkResult::failed(Status::rejected, "check violated", "23514");
        r.rejected = {{0, kP0, 10, "23514", "rejected by the fake store: check", std::nullopt}};
        return r;
    });
    const int before = observer.beats;
    write(batch());
    EXPECT_EQ(during, 20);
    EXPECT_GE(observer.beats - before, 20 + 1) << "and each read-back beats too";
}
