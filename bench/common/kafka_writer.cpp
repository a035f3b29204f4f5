#include "kafka_writer.h"

#include <stdexcept>

namespace starstream::bench {

KafkaWriter::KafkaWriter(const std::string& brokers, std::string topic, const std::vector<std::string>& properties)
    : topic_(std::move(topic)) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& k, const std::string& v) {
        if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::invalid_argument("kafka property " + k + ": " + err);
        }
    };
    set("bootstrap.servers", brokers);
    set("compression.codec", "lz4");
    set("linger.ms", "20");
    set("batch.size", "1000000");
    set("queue.buffering.max.kbytes", "262144");
    set("enable.idempotence", "true");
    set("message.max.bytes", "2000000");
    for (const auto& p : properties) {
        auto eq = p.find('=');
        if (eq == std::string::npos) {
            rd_kafka_conf_destroy(conf);
            throw std::invalid_argument("--kafka-property " + p + ": expected KEY=VALUE");
        }
        set(p.substr(0, eq), p.substr(eq + 1));
    }
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaWriter::on_delivery);
    rd_kafka_conf_set_opaque(conf, this);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);  // owns conf on success only
    if (!rk_) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("cannot create producer: ") + err);
    }
}

KafkaWriter::~KafkaWriter() { rd_kafka_destroy(rk_); }

void KafkaWriter::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaWriter*>(opaque);
    if (!m->err) {
        ++self->delivered_;
        return;
    }
    ++self->failed_count_;
    if (self->failed_.empty()) self->failed_ = rd_kafka_err2str(m->err);
}

std::int32_t KafkaWriter::partition_count(int timeout_ms) {
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, topic_.c_str(), nullptr);
    if (!topic) throw std::runtime_error("cannot open topic " + topic_);
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk_, 0, topic, &metadata, timeout_ms);
    rd_kafka_topic_destroy(topic);
    if (e) throw std::runtime_error("metadata of topic " + topic_ + ": " + rd_kafka_err2str(e));
    std::int32_t count = 0;
    rd_kafka_resp_err_t topic_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < metadata->topic_cnt; ++i) {
        if (topic_ != metadata->topics[i].topic) continue;
        count = metadata->topics[i].partition_cnt;
        topic_error = metadata->topics[i].err;
    }
    rd_kafka_metadata_destroy(metadata);
    if (topic_error) throw std::runtime_error("metadata of topic " + topic_ + ": " + rd_kafka_err2str(topic_error));
    return count;
}

void KafkaWriter::write(std::string_view key, std::string_view value, std::optional<std::int32_t> partition) {
    const bool keyed = !partition;
    produce(keyed ? key.data() : nullptr, keyed ? key.size() : 0, value, partition.value_or(RD_KAFKA_PARTITION_UA));
}

void KafkaWriter::write_unkeyed(std::string_view value) { produce(nullptr, 0, value, RD_KAFKA_PARTITION_UA); }

void KafkaWriter::produce(const void* key, std::size_t key_size, std::string_view value, std::int32_t partition) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(const_cast<void*>(key), key_size),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk_, 50);
            continue;
        }
        if (e) throw std::runtime_error(std::string("produce failed: ") + rd_kafka_err2str(e));
        break;
    }
    rd_kafka_poll(rk_, 0);
    if (!failed_.empty()) throw std::runtime_error("delivery failed: " + failed_);
}

void KafkaWriter::flush(int timeout_ms) {
    if (rd_kafka_flush(rk_, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw std::runtime_error("not every message was delivered within " + std::to_string(timeout_ms) + " ms");
    if (!failed_.empty()) throw std::runtime_error("delivery failed: " + failed_);
}

}  // namespace starstream::bench
