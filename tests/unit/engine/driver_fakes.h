// Test doubles for the engine's driver interfaces: a batch whose rows are record positions, a
// pipeline stage that reads a Unix-seconds number per record, and an in-memory "database"
// (Ledger) that a checkpoint store and a sink share, with the same fencing rule as the
// Postgres progress table (a batch commits only if every partition's epoch is still its own).
// The sink can be told to fail transiently, to lose a COMMIT's reply, or to block.
#pragma once

#include "checkpoint/checkpoint_store.h"
#include "driver/batch_sink.h"
#include "driver/driver_observer.h"
#include "driver/pipeline_stage.h"
#include "driver/sink_loop.h"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>

namespace starstream::engine::testing {

/// A batch whose rows are the positions of its records.
struct RowsBatch final : MicroBatch {
    struct Row {
        TopicPartition tp;
        std::int64_t offset;
    };
    std::vector<Row> rows;
    /// The rows when the stage last sealed the batch (its operators' partials cover them);
    /// kNotSealed once rows went (the partials with them: a real sink computes them again).
    static constexpr std::size_t kNotSealed = SIZE_MAX;
    std::size_t sealed_rows = 0;

    /// A record at `offset` of `tp`, owned at `epoch`, into the rows and the header.
    void add(const TopicPartition& tp, std::int64_t offset, std::int64_t epoch) {
        topic_index(tp.topic);
        rows.push_back({tp, offset});
        ++records, ++partition_records[tp];
        checkpoint.consumed(tp, offset, epoch);
    }

private:
    void drop_rows(const std::set<TopicPartition>& partitions) override {
        std::erase_if(rows, [&](const Row& r) { return partitions.count(r.tp) > 0; });
        sealed_rows = kNotSealed;
    }
    void remove_rows(const std::vector<RejectedRow>& rejected) override {
        std::vector<bool> gone(rows.size());
        for (const auto& r : rejected) gone[r.row] = true;
        std::size_t i = 0;
        std::erase_if(rows, [&](const Row&) { return gone[i++]; });
        sealed_rows = kNotSealed;
    }
};

/// Records whose payload is a Unix-seconds number; anything else is a dead letter.
class SecondsStage final : public PipelineStage {
public:
    std::unique_ptr<MicroBatch> new_batch() override { return std::make_unique<RowsBatch>(); }
    Decoded decode(std::string_view payload) override {
        std::int64_t seconds = 0;
        const auto [end, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), seconds);
        if (ec != std::errc() || end != payload.data() + payload.size()) return {"not a number", 0, {}};
        return {{}, seconds * 1000000, "seconds " + std::to_string(seconds)};
    }
    void append(MicroBatch& batch, const RecordOrigin& origin) override {
        auto& rows = static_cast<RowsBatch&>(batch);
        rows.rows.push_back({{rows.topics[origin.topic_index], origin.partition}, origin.offset});
    }
    void seal(MicroBatch& batch) override {
        auto& rows = static_cast<RowsBatch&>(batch);
        rows.sealed_rows = rows.rows.size();
    }
};

/// The shared state a real deployment keeps in Postgres: progress rows and written rows.
struct Ledger {
    struct Progress {
        std::int64_t next_offset = -1, epoch = 0;
        std::string owner;
        std::int64_t watermark_us = PartitionPosition{}.watermark_us;
    };
    std::mutex mutex;
    std::map<TopicPartition, Progress> progress;
    std::map<TopicPartition, std::multiset<std::int64_t>> rows;  ///< offsets written per partition
    std::vector<DeadLetter> dead_letters;
    std::vector<std::string> dead_letter_topics;
    std::set<std::int64_t> landed;  ///< committed batch ids
    int commits = 0;
};

class LedgerStore final : public CheckpointStore {
public:
    LedgerStore(Ledger& ledger, std::string instance) : ledger_(ledger), instance_(std::move(instance)) {}

    std::map<TopicPartition, PartitionPosition> claim(const std::vector<TopicPartition>& partitions) override {
        std::lock_guard lock(ledger_.mutex);
        std::map<TopicPartition, PartitionPosition> out;
        for (const auto& tp : partitions) {
            auto& p = ledger_.progress[tp];
            ++p.epoch;
            p.owner = instance_;
            out[tp] = {p.next_offset, p.epoch, p.watermark_us};
        }
        return out;
    }
    void register_partitions(const std::vector<TopicPartition>& partitions) override {
        std::lock_guard lock(ledger_.mutex);
        for (const auto& tp : partitions) ledger_.progress.try_emplace(tp);
    }
    std::map<TopicPartition, Owner> owners(const std::vector<TopicPartition>& partitions) override {
        std::lock_guard lock(ledger_.mutex);
        std::map<TopicPartition, Owner> out;
        for (const auto& tp : partitions)
            if (auto it = ledger_.progress.find(tp); it != ledger_.progress.end()) out[tp] = {it->second.epoch, it->second.owner};
        return out;
    }

private:
    Ledger& ledger_;
    std::string instance_;
};

/// Commits a batch into the ledger in one step, fenced like the progress table's UPDATE.
class LedgerSink final : public BatchSink {
public:
    explicit LedgerSink(Ledger& ledger) : ledger_(ledger) {}

    std::atomic<int> transient_failures{0};  ///< the next writes fail before committing
    std::atomic<int> lost_replies{0};        ///< the next writes commit, then report a lost connection
    /// Called with the ledger locked after each commit (the test's chance to act "meanwhile").
    std::function<void(Ledger&)> after_commit;

    /// While blocked, a write waits (a database that stopped answering).
    void block(bool on) {
        std::lock_guard lock(block_mutex_);
        blocked_ = on;
        unblocked_.notify_all();
    }
    std::atomic<int> writes{0};
    /// Writes of a batch with rows the stage appended after sealing it (or never sealed).
    std::atomic<int> unsealed_writes{0};

    SinkResult write(MicroBatch& batch) override {
        {
            std::unique_lock lock(block_mutex_);
            unblocked_.wait(lock, [&] { return !blocked_ || abandoned_; });
        }
        ++writes;
        const auto& rows = static_cast<RowsBatch&>(batch);
        if (rows.sealed_rows != RowsBatch::kNotSealed && rows.sealed_rows != rows.rows.size()) ++unsealed_writes;
        if (batch.batch_id == 0) batch.batch_id = next_id_++;
        if (transient_failures > 0) {
            --transient_failures;
            return SinkResult::failed(SinkResult::Status::transient, "connection lost");
        }
        std::lock_guard lock(ledger_.mutex);
        SinkResult fenced = SinkResult::failed(SinkResult::Status::fenced, "fenced");
        for (const auto& [tp, position] : batch.checkpoint)
            if (ledger_.progress[tp].epoch != position.epoch) fenced.fenced.insert(tp);
        if (!fenced.fenced.empty()) return fenced;
        for (const auto& row : static_cast<RowsBatch&>(batch).rows) ledger_.rows[row.tp].insert(row.offset);
        for (const auto& d : batch.dead_letters) {
            ledger_.dead_letters.push_back(d);
            ledger_.dead_letter_topics.push_back(batch.topics[d.topic_index]);
        }
        for (const auto& [tp, position] : batch.checkpoint) {
            ledger_.progress[tp].next_offset = position.next_offset;
            ledger_.progress[tp].watermark_us = position.watermark_us;
        }
        ledger_.landed.insert(batch.batch_id);
        ++ledger_.commits;
        if (after_commit) after_commit(ledger_);
        if (lost_replies > 0) {
            --lost_replies;
            return SinkResult::failed(SinkResult::Status::transient, "connection lost after COMMIT");
        }
        return SinkResult::committed_with({});
    }
    Landing resolve(const MicroBatch& batch) override {
        std::lock_guard lock(ledger_.mutex);
        return {ledger_.landed.count(batch.batch_id) ? Landing::Outcome::landed : Landing::Outcome::not_landed, {}};
    }
    std::string check() override { return {}; }
    void abandon() override {
        std::lock_guard lock(block_mutex_);
        abandoned_ = true;
        unblocked_.notify_all();
    }
    std::string name() const override { return "the ledger"; }

private:
    Ledger& ledger_;
    std::int64_t next_id_ = 1;
    std::mutex block_mutex_;
    std::condition_variable unblocked_;
    bool blocked_ = false, abandoned_ = false;
};

/// Observers that only count what the tests look at.
struct CountingDriverObserver final : DriverObserver {
    std::atomic<std::int64_t> consumed_records{0}, dead_letters{0};
    void heartbeat() override {}
    void source_health(const std::string&, std::uint64_t, std::uint64_t) override {}
    void waiting_for_source(const std::string&) override {}
    void ready(std::size_t) override {}
    void consumed(std::size_t n) override { consumed_records += static_cast<std::int64_t>(n); }
    void decoded(std::size_t) override {}
    void dead_lettered(std::string_view) override { ++dead_letters; }
    void phase(const std::string&, double) override {}
    void offset_out_of_range(const std::string&) override {}
    void alignment_held(std::size_t) override {}
    void partitions(std::vector<PartitionStatus>, bool) override {}
    void forget(const TopicPartition&) override {}
    void progress(const std::string&) override {}
    void stopping() override {}
};

struct QuietSinkObserver final : SinkObserver {
    void beat() override {}
    void committed(const MicroBatch&, const CommitReport&) override {}
    void write_failed(const SinkResult&) override {}
    void retrying(const SinkResult&) override {}
    void landing_resolved(bool) override {}
    void fenced(std::size_t) override {}
    void rejected(std::size_t) override {}
    void checked(const std::string&) override {}
    void failed(const SinkFailure&) override {}
};

}  // namespace starstream::engine::testing
