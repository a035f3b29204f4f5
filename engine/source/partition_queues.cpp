#include "source/partition_queues.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace starstream::engine {

namespace {
constexpr int kRunLength = 64;  ///< messages taken from one partition before moving on
}

PartitionQueues::PartitionQueues(rd_kafka_t* consumer) : consumer_(consumer), consumer_queue_(rd_kafka_queue_get_consumer(consumer)) {
    if (::pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("cannot create the consumer's wake-up pipe: ") + std::strerror(errno));
    watch(consumer_queue_);
}

PartitionQueues::~PartitionQueues() {
    clear();
    rd_kafka_queue_io_event_enable(consumer_queue_, -1, nullptr, 0);
    rd_kafka_queue_destroy(consumer_queue_);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
}

void PartitionQueues::watch(rd_kafka_queue_t* queue) { rd_kafka_queue_io_event_enable(queue, pipe_[1], "q", 1); }

void PartitionQueues::adopt(const std::vector<TopicPartition>& partitions) {
    clear();
    for (const auto& tp : partitions) {
        rd_kafka_queue_t* queue = rd_kafka_queue_get_partition(consumer_, tp.topic.c_str(), tp.partition);
        if (!queue) continue;  // unknown partition: librdkafka reports it through the assignment
        rd_kafka_queue_forward(queue, nullptr);
        watch(queue);
        queues_.emplace_back(tp, queue);
    }
}

void PartitionQueues::clear() {
    for (auto& [tp, queue] : queues_) {
        // What was prefetched is dropped now: nobody reads this queue until the partition is
        // assigned here again (and a new assignment fetches from its own position anyway).
        while (rd_kafka_message_t* m = rd_kafka_consume_queue(queue, 0)) rd_kafka_message_destroy(m);
        rd_kafka_queue_io_event_enable(queue, -1, nullptr, 0);
        rd_kafka_queue_destroy(queue);
    }
    queues_.clear();
    current_ = 0;
    run_ = 0;
}

rd_kafka_message_t* PartitionQueues::next(const std::set<TopicPartition>& held) {
    for (std::size_t tried = 0; tried <= queues_.size() && !queues_.empty(); ++tried) {
        if (current_ >= queues_.size() || run_ >= kRunLength) current_ = (current_ + 1) % queues_.size(), run_ = 0;
        const auto& [tp, queue] = queues_[current_];
        if (!held.count(tp)) {
            if (rd_kafka_message_t* m = rd_kafka_consume_queue(queue, 0)) {
                ++run_;
                return m;
            }
        }
        run_ = kRunLength;  // empty or held: move on
    }
    return nullptr;
}

void PartitionQueues::wait(std::chrono::milliseconds timeout) {
    pollfd fd{pipe_[0], POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) > 0) {
        char drain[256];
        while (::read(pipe_[0], drain, sizeof drain) > 0) {
        }
    }
}

}  // namespace starstream::engine
