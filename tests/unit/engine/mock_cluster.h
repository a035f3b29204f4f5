// librdkafka's mock cluster (the real Kafka protocol, in process) with one topic, filled through
// a producer with explicit partitions: `payload(partition, i)` for i < per_partition.
#pragma once

#include <librdkafka/rdkafka_mock.h>

#include <functional>
#include <string>

namespace starstream::engine::testing {

class MockCluster {
public:
    using Payload = std::function<std::string(int partition, int i)>;

    MockCluster(const char* topic, int partitions, int per_partition, const Payload& payload) {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
        producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        bootstrap_ = rd_kafka_mock_cluster_bootstraps(rd_kafka_handle_mock_cluster(producer_));
        rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(producer_), topic, partitions, 1);
        for (int p = 0; p < partitions; ++p)
            for (int i = 0; i < per_partition; ++i) {
                const std::string value = payload(p, i);
                rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_END);
            }
        rd_kafka_flush(producer_, 10000);
    }
    ~MockCluster() { rd_kafka_destroy(producer_); }
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;
    const std::string& bootstrap() const { return bootstrap_; }

private:
    rd_kafka_t* producer_ = nullptr;
    std::string bootstrap_;
};

}  // namespace starstream::engine::testing
