// One librdkafka queue per assigned partition, consumed round robin, so that a partition can be
// held back (watermark alignment) or every partition left alone (backpressure) without pausing.
//
// Why: a pause makes librdkafka drop what it prefetched for the partition and fetch it again on
// resume (rdkafka_fetcher.c: a new op version purges the queue), and librdkafka 2.0 forwards
// every partition's queue into the consumer's one queue, where its queue limits then count all
// partitions together. Aligning an unkeyed 48 h backlog paused and resumed partitions all the
// time: a fifth of the daemon's CPU went to decompressing the same batches again (perf,
// LZ4_decompress_safe). Here each partition's queue stays its own (rd_kafka_queue_forward to
// nothing, before the assignment starts fetching), so librdkafka's queued.min.messages and
// queued.max.messages.kbytes bound each partition, and a partition nobody takes from simply
// stops being fetched once its queue is full, keeping what it holds.
//
// Waiting: each queue (and the consumer queue, which keeps rebalances and errors) writes a byte
// to one pipe when it turns non-empty (rd_kafka_queue_io_event_enable); wait() sleeps on it.
// Thread rules: the poll thread only.
#pragma once

#include "source/topic_partition.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <set>
#include <vector>

namespace starstream::engine {

class PartitionQueues {
public:
    /// `consumer`: the high-level consumer (rd_kafka_poll_set_consumer done). Throws
    /// std::runtime_error when the wake-up pipe cannot be made.
    explicit PartitionQueues(rd_kafka_t* consumer);
    ~PartitionQueues();
    PartitionQueues(const PartitionQueues&) = delete;
    PartitionQueues& operator=(const PartitionQueues&) = delete;

    /// Takes the queues of `partitions` out of the consumer queue. Call before rd_kafka_assign()
    /// of them: librdkafka forwards a partition's queue to the consumer queue when its fetch
    /// starts, unless the application set its forwarding first. Replaces earlier partitions.
    void adopt(const std::vector<TopicPartition>& partitions);
    /// Forgets every partition queue, dropping what they still hold (after a revocation, or
    /// before a new assignment, which fetches from the positions it gives).
    void clear();

    /// The next message of a partition not in `held`, round robin (a run of up to 64 messages
    /// per partition, to keep per-message overhead low); nullptr when none has one now. The
    /// caller owns the message.
    rd_kafka_message_t* next(const std::set<TopicPartition>& held);
    /// Sleeps until a queue (a partition's or the consumer's) turns non-empty or `timeout` passes.
    void wait(std::chrono::milliseconds timeout);

private:
    void watch(rd_kafka_queue_t* queue);

    rd_kafka_t* consumer_;
    rd_kafka_queue_t* consumer_queue_;
    int pipe_[2] = {-1, -1};  ///< read end, write end
    std::vector<std::pair<TopicPartition, rd_kafka_queue_t*>> queues_;
    std::size_t current_ = 0;  ///< round-robin position in queues_
    int run_ = 0;              ///< messages taken from queues_[current_] in a row
};

}  // namespace starstream::engine
