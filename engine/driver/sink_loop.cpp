#include "driver/sink_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace starstream::engine {

using Status = SinkResult::Status;
using Clock = std::chrono::steady_clock;

SinkLoop::SinkLoop(SinkLoopSettings settings, BatchQueue& queue, BatchSink& sink, SourceLink& source, SinkObserver& observer)
    : settings_(settings), queue_(queue), sink_(sink), source_(source), observer_(observer) {
    sink_.on_progress([this] { observer_.beat(); });
}

SinkLoop::~SinkLoop() { stop(); }

void SinkLoop::start() { thread_ = std::thread([this] { run(); }); }

void SinkLoop::stop() {
    stopping_ = true;
    queue_.close();
    if (thread_.joinable()) thread_.join();
}

void SinkLoop::abandon() {
    abandon_ = true;
    sink_.abandon();
}

std::optional<SinkFailure> SinkLoop::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

std::map<TopicPartition, std::int64_t> SinkLoop::take_fenced() {
    std::lock_guard lock(mutex_);
    return std::exchange(fenced_, {});
}

void SinkLoop::fail(SinkFailure failure) {
    spdlog::critical("{}", failure.message);
    observer_.failed(failure);
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = std::move(failure);
}

void SinkLoop::run() {
    for (;;) {
        observer_.beat();
        auto batch = queue_.take(std::chrono::milliseconds(200));
        if (!batch) {
            if (stopping_) return;
            // Idle for a while: make sure the sink still answers, so /readyz tells the truth on a quiet topic.
            if (!failure() && Clock::now() - last_activity_ > settings_.idle_check) {
                observer_.checked(sink_.check());
                last_activity_ = Clock::now();
            }
            continue;
        }
        // After a failure nothing is written any more: the poll loop is stopping the process,
        // and what it still hands over is read again after the restart.
        if (!failure()) {
            try {
                commit_with_retry(**batch);
            } catch (const SinkFailure& f) {
                fail(f);
            } catch (const std::exception& e) {
                fail({"batch " + std::to_string((*batch)->batch_id) + " cannot be written: " + e.what() + "; stopping (nothing of it was committed)"});
            }
        }
        last_activity_ = Clock::now();
        queue_.done();
    }
}

void SinkLoop::committed(const MicroBatch& batch, const CommitReport& report) {
    ++committed_batches_;
    committed_records_ += static_cast<std::int64_t>(batch.records);
    observer_.committed(batch, report);
    spdlog::debug("batch {} committed: {} records, {} rows inserted, {} duplicates, {} dead letters; stage {:.3f}s merge {:.3f}s"
                  " (windows: apply {:.3f}s, write {:.3f}s) commit {:.3f}s",
                  batch.batch_id, batch.records, report.rows_inserted, report.duplicates, report.dead_letters, report.stage_seconds,
                  report.merge_seconds, report.window_apply_seconds, report.window_write_seconds, report.commit_seconds);
    std::map<TopicPartition, std::int64_t> offsets;
    for (const auto& [tp, position] : batch.checkpoint) offsets[tp] = position.next_offset;
    source_.commit_offsets(offsets);
}

void SinkLoop::commit_with_retry(MicroBatch& batch) {
    auto backoff = settings_.retry_initial;
    bool outcome_unknown = false;
    int unexplained = 0;
    for (int attempt = 1;; ++attempt) {
        SinkResult result;
        if (outcome_unknown) {
            const BatchSink::Landing landing = sink_.resolve(batch);
            if (landing.outcome == BatchSink::Landing::Outcome::landed) {
                spdlog::warn("batch {} was committed although its COMMIT's reply was lost; not writing it again", batch.batch_id);
                observer_.landing_resolved(true);
                return committed(batch, {});
            }
            if (landing.outcome == BatchSink::Landing::Outcome::unknown) {
                result = SinkResult::failed(Status::transient, landing.error);
            } else {
                observer_.landing_resolved(false);
                outcome_unknown = false;
            }
        }
        if (!outcome_unknown) result = sink_.write(batch);
        if (result.status == Status::committed) return committed(batch, result.report);
        if (result.status == Status::transient) outcome_unknown = true;
        if (handle(batch, result, unexplained)) continue;
        if (abandon_) {
            spdlog::error("batch {} abandoned at shutdown ({}); whatever did not commit is consumed again on restart", batch.batch_id, result.error);
            return;
        }
        observer_.retrying(result);
        spdlog::warn("batch {} not committed (attempt {}, {}; retrying in {} ms): {}", batch.batch_id, attempt,
                     result.status == Status::transient ? "transient" : "code " + result.code + ", no single record to blame", backoff.count(),
                     result.error);
        if (!back_off(backoff)) {
            spdlog::error("batch {} abandoned at shutdown: nothing of it was committed; it will be consumed again on restart", batch.batch_id);
            return;
        }
        backoff = std::min(backoff * 2, settings_.retry_max);
    }
}

bool SinkLoop::handle(MicroBatch& batch, const SinkResult& result, int& unexplained) {
    switch (result.status) {
    case Status::fenced: {
        std::string names;
        for (const auto& tp : result.fenced) names += " " + tp.to_string();
        spdlog::warn("batch {}: partitions fenced (claimed since by another owner or reset by an operator), their records are left out:{}",
                     batch.batch_id, names);
        observer_.fenced(result.fenced.size());
        {
            std::lock_guard lock(mutex_);
            for (const auto& tp : result.fenced) fenced_[tp] = batch.checkpoint.at(tp).epoch;
        }
        batch.drop_partitions(result.fenced);
        return true;
    }
    case Status::committed:
        return false;
    case Status::rejected:
    case Status::refused:
    case Status::transient:
        break;
    }
    observer_.write_failed(result);
    if (result.status == Status::transient) return false;
    if (result.status == Status::rejected && !result.rejected.empty()) {
        dead_letter(batch, result);
        return true;
    }
    // A rejection no row explains may be a concurrent writer of the same key, which a retry skips.
    if (result.status == Status::rejected && ++unexplained < settings_.unexplained_limit) return false;
    // Refused by the sink itself (it says why), or rejected again and again with no row to blame.
    const std::string why = result.status == Status::rejected ? "no record is to blame: " : "";
    throw SinkFailure{"batch " + std::to_string(batch.batch_id) + ": " + sink_.name() + " refuses it permanently (code " + result.code + "): " + why +
                          result.error + ". Stopping: fix the schema, permissions, constraint or pipeline spec, then restart; nothing of the batch was committed.",
                      true};
}

void SinkLoop::dead_letter(MicroBatch& batch, const SinkResult& result) {
    std::vector<RejectedRow> rejected = result.rejected;
    std::string where;
    for (auto& r : rejected) {
        observer_.beat();  // each read-back may wait for the broker: progress, not a hang
        r.payload = source_.read_back(r.source, r.offset);
        if (where.size() < 400) where += fmt::format(" {}@{} (code {})", r.source.to_string(), r.offset, r.code);
    }
    observer_.rejected(rejected.size());
    spdlog::error("batch {}: {} rejects {} record(s) ({}); they become dead letters, the rest commits:{}", batch.batch_id, sink_.name(),
                  rejected.size(), result.error, where);
    batch.dead_letter_rows(rejected);
}

bool SinkLoop::back_off(std::chrono::milliseconds backoff) {
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until && !abandon_) {
        observer_.beat();  // retrying is progress; a hung call is not
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return !abandon_;
}

}  // namespace starstream::engine
