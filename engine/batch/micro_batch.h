// What every micro-batch carries whatever its pipeline (DESIGN.md, data flow "micro-batch"): the
// batch id, the topics its records came from, how many records and bytes per partition, the dead
// letters, the offset gaps and the checkpoint that commit with it. A pipeline derives its batch
// from MicroBatch and adds its rows (facts, dimension members, window inputs); the driver and the
// sink loop only see this part, and reach the rows through the two virtual hooks.
// Thread rules: filled on the poll thread, then moved to the sink thread; never shared.
#pragma once

#include "batch/batch_checkpoint.h"
#include "source/topic_partition.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::engine {

/// A record that is not counted anywhere else (DESIGN.md invariant 3): its raw bytes, where it
/// came from and why. `code` is the sink's error code (a SQLSTATE) when the sink refused it;
/// empty for decode and validation failures.
struct DeadLetter {
    std::uint16_t topic_index = 0;  ///< into MicroBatch::topics
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string reason;
    std::string payload;
    std::int64_t kafka_timestamp_ms = -1;  ///< -1 when unknown
    std::string code;
};

/// A checkpoint that was outside its partition's log, and where consumption resumed
/// (source.offset_out_of_range). Written with the first batch after it.
struct OffsetGap {
    TopicPartition partition;
    std::int64_t from_offset = 0, to_offset = 0;
    std::int64_t log_start = -1, log_end = -1;  ///< -1 when unknown
    std::string policy;
    std::int64_t detected_at_us = 0;  ///< Unix microseconds
};

/// A row the sink refused for its values (a data or constraint error), found by the sink's
/// bisection: the row's index in the pipeline's rows, where its record came from, and the error.
struct RejectedRow {
    std::size_t row = 0;
    TopicPartition source;
    std::int64_t offset = 0;
    std::string code;    ///< e.g. a SQLSTATE
    std::string reason;  ///< the dead letter's reason: who refused it and the error's first line, no row contents
    /// The raw record, read back from the source by the sink loop (batches keep no copy of the
    /// messages); nullopt when the log no longer has it.
    std::optional<std::string> payload;
};

class MicroBatch {
public:
    virtual ~MicroBatch() = default;

    std::int64_t batch_id = 0;  ///< from the sink, taken before the first attempt and kept; 0 until then
    std::vector<std::string> topics;
    std::vector<DeadLetter> dead_letters;
    /// Next offset, epoch and watermark of every owned partition with a known position.
    BatchCheckpoint checkpoint;
    std::vector<OffsetGap> offset_gaps;  ///< recorded in the same transaction
    std::size_t records = 0;             ///< messages consumed into this batch
    std::map<TopicPartition, std::size_t> partition_records;  ///< the same, per partition
    std::size_t bytes = 0;               ///< their payload bytes

    bool empty() const { return records == 0; }
    /// The index of `topic` in `topics`, added if new.
    std::uint16_t topic_index(std::string_view topic);
    /// Removes everything of `partitions` (fenced, revoked or released: their records belong to
    /// another owner): dead letters, offset gaps, checkpoint entries, counts, and the rows.
    void drop_partitions(const std::set<TopicPartition>& partitions);
    /// Moves `rejected` rows (payloads read back) into the dead letters; the rest commits.
    void dead_letter_rows(const std::vector<RejectedRow>& rejected);

protected:
    /// The pipeline's rows of `partitions` leave the batch.
    virtual void drop_rows(const std::set<TopicPartition>& partitions) = 0;
    /// The pipeline's rows at the indexes of `rejected` leave the batch (with anything only they
    /// referenced); their dead letters are added by dead_letter_rows().
    virtual void remove_rows(const std::vector<RejectedRow>& rejected) = 0;
};

}  // namespace starstream::engine
