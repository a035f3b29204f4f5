#include "sink/postgres/progress_store.h"

#include <cstdlib>

namespace starstream::daemon::postgres {

std::string text_array(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (char c : values[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

ProgressStore::ProgressStore(PgSettings settings) : settings_(std::move(settings)), conn_(std::make_unique<PgConnection>(settings_)) {}

PgConnection& ProgressStore::connection() {
    if (!conn_ || !conn_->ok()) {
        conn_.reset();
        conn_ = std::make_unique<PgConnection>(settings_);
    }
    return *conn_;
}

std::map<engine::TopicPartition, engine::PartitionPosition> ProgressStore::claim(const std::vector<engine::TopicPartition>& partitions) {
    std::vector<std::string> topics, numbers;
    for (const auto& tp : partitions) {
        topics.push_back(tp.topic);
        numbers.push_back(std::to_string(tp.partition));
    }
    PgResult rows = connection().exec_params(
        "INSERT INTO starstream.progress AS p (topic, partition, next_offset, epoch)"
        " SELECT t, n, NULL, 1 FROM unnest($1::text[], $2::int[]) AS u(t, n)"
        " ON CONFLICT (topic, partition) DO UPDATE SET epoch = p.epoch + 1, updated_at = now()"
        " RETURNING topic, partition, coalesce(next_offset, -1), epoch, (extract(epoch FROM watermark) * 1000000)::bigint",
        {text_array(topics), text_array(numbers)});
    std::map<engine::TopicPartition, engine::PartitionPosition> positions;
    for (int i = 0; i < PQntuples(rows.get()); ++i) {
        engine::TopicPartition tp{PQgetvalue(rows.get(), i, 0), std::atoi(PQgetvalue(rows.get(), i, 1))};
        positions[tp] = {std::atoll(PQgetvalue(rows.get(), i, 2)), std::atoll(PQgetvalue(rows.get(), i, 3)),
                         PQgetisnull(rows.get(), i, 4) ? engine::PartitionPosition{}.watermark_us : std::atoll(PQgetvalue(rows.get(), i, 4))};
    }
    return positions;
}

std::int64_t ProgressStore::last_batch_id() {
    PgResult row = connection().exec("SELECT coalesce(max(batch_id), 0) FROM starstream.batch");
    return std::atoll(PQgetvalue(row.get(), 0, 0));
}

}  // namespace starstream::daemon::postgres
