// What a micro-batch commits, per partition: the next offset to read, the owner epoch that fences
// the commit, and the partition's watermark (DESIGN.md, invariants 1, 2 and 4). The one place
// that builds it, as the batch fills and when it is sealed:
//   consumed()  a record of the partition is in the batch: resume after it;
//   moved()     the partition resumes elsewhere without a record (a checkpoint outside the log);
//   seal()      every owned partition with a known position joins (a quiet partition's watermark
//               moves on too, fenced like the rest), and each takes its watermark as of sealing;
//   drop()      a fenced, revoked or released partition is not this batch's to commit.
// Value type; one thread at a time (the poll thread fills and seals it, then the sink reads it).
#pragma once

#include "source/topic_partition.h"

#include <cstdint>
#include <functional>
#include <map>

namespace starstream::engine {

class BatchCheckpoint {
public:
    using Positions = std::map<TopicPartition, PartitionPosition>;
    /// Unix microseconds, or -1 for "no position"; see seal().
    using PartitionValue = std::function<std::int64_t(const TopicPartition&)>;

    /// A record at `offset` of `tp`, owned at `epoch`, is in the batch.
    void consumed(const TopicPartition& tp, std::int64_t offset, std::int64_t epoch) { positions_[tp] = {offset + 1, epoch}; }
    /// `tp` resumes at `next_offset` (no record: an offset gap was skipped or re-read).
    void moved(const TopicPartition& tp, std::int64_t next_offset, std::int64_t epoch) { positions_[tp] = {next_offset, epoch}; }
    /// Adds each partition of `epochs` (owned, with our epoch) that is not in the batch yet and
    /// whose `next_offset_of` is a position (>= 0; -1: none known yet), then sets every
    /// partition's watermark to `watermark_of` (Unix microseconds).
    void seal(const std::map<TopicPartition, std::int64_t>& epochs, const PartitionValue& next_offset_of, const PartitionValue& watermark_of) {
        for (const auto& [tp, epoch] : epochs)
            if (const std::int64_t next = next_offset_of(tp); next >= 0) positions_.try_emplace(tp, PartitionPosition{next, epoch});
        for (auto& [tp, position] : positions_) position.watermark_us = watermark_of(tp);
    }
    void drop(const TopicPartition& tp) { positions_.erase(tp); }

    const Positions& positions() const { return positions_; }
    const PartitionPosition& at(const TopicPartition& tp) const { return positions_.at(tp); }
    std::size_t size() const { return positions_.size(); }
    Positions::const_iterator begin() const { return positions_.begin(); }
    Positions::const_iterator end() const { return positions_.end(); }

private:
    Positions positions_;
};

}  // namespace starstream::engine
