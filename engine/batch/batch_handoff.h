// A one-slot handoff of sealed micro-batches from the consume thread to the sink thread.
//
// The slot holds at most one batch; a producer that offers only when idle() keeps memory
// to two batches (one filling, one committing); while the sink is busy the consume loop
// takes no record instead of buffering further (DESIGN.md, invariant 5): the source's
// per-partition queues fill, then librdkafka stops fetching.
// Thread rules: one producer thread (offer, wait_idle), one consumer thread (take, done).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace starstream::engine {

template <typename Batch>
class BatchHandoff {
public:
    /// Puts `batch` in the slot if it is free; returns false (and leaves `batch` alone) if not.
    bool try_offer(Batch& batch) {
        std::lock_guard lock(mutex_);
        if (slot_ || closed_) return false;
        slot_.emplace(std::move(batch));
        changed_.notify_all();
        return true;
    }

    /// Waits up to `timeout` for the next batch; nullopt on timeout or once closed and empty.
    std::optional<Batch> take(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return slot_.has_value() || closed_; });
        if (!slot_) return std::nullopt;
        std::optional<Batch> batch = std::move(slot_);
        slot_.reset();
        busy_ = true;
        changed_.notify_all();
        return batch;
    }

    /// The sink calls this when the batch it took is committed (or abandoned).
    void done() {
        std::lock_guard lock(mutex_);
        busy_ = false;
        changed_.notify_all();
    }

    /// Waits up to `timeout` until no batch waits and none is being written; true if idle.
    bool wait_idle(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return !slot_ && !busy_; });
    }

    bool idle() {
        std::lock_guard lock(mutex_);
        return !slot_ && !busy_;
    }

    /// No more offers; wakes the sink so that it can drain and stop.
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::optional<Batch> slot_;
    bool busy_ = false;
    bool closed_ = false;
};

}  // namespace starstream::engine
