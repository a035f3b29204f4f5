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

ProgressStore::ProgressStore(PgSettings settings, std::string instance_id, const std::atomic<bool>* abort_flag)
    : settings_(std::move(settings)),
      instance_id_(std::move(instance_id)),
      abort_flag_(abort_flag),
      conn_(std::make_unique<PgConnection>(settings_, abort_flag_)) {}

PgConnection& ProgressStore::connection() {
    if (!conn_ || !conn_->ok()) {
        conn_.reset();
        conn_ = std::make_unique<PgConnection>(settings_, abort_flag_);
    }
    return *conn_;
}

namespace {

/// The topics and partition numbers of `partitions` as two parallel Postgres array literals.
std::pair<std::string, std::string> partition_arrays(const std::vector<engine::TopicPartition>& partitions) {
    std::vector<std::string> topics, numbers;
    for (const auto& tp : partitions) {
        topics.push_back(tp.topic);
        numbers.push_back(std::to_string(tp.partition));
    }
    return {text_array(topics), text_array(numbers)};
}

}  // namespace

void ProgressStore::register_partitions(const std::vector<engine::TopicPartition>& partitions) {
    if (partitions.empty()) return;
    const auto [topics, numbers] = partition_arrays(partitions);
    connection().exec_params(
        "INSERT INTO starstream.progress (topic, partition, next_offset, epoch) SELECT t, n, NULL, 0 FROM unnest($1::text[], $2::int[]) AS u(t, n)"
        " ORDER BY t, n ON CONFLICT (topic, partition) DO NOTHING",
        {topics, numbers});
}

std::map<engine::TopicPartition, engine::PartitionPosition> ProgressStore::claim(const std::vector<engine::TopicPartition>& partitions) {
    const auto [topics, numbers] = partition_arrays(partitions);
    // The CTE reads the topics' checkpoints as they were before this claim.
    PgResult rows = connection().exec_params(
        "WITH started AS (SELECT DISTINCT topic FROM starstream.progress WHERE next_offset IS NOT NULL AND topic = ANY($1::text[]))"
        " INSERT INTO starstream.progress AS p (topic, partition, next_offset, epoch, owner_instance, claimed_at)"
        " SELECT t, n, NULL, 1, $3, now() FROM unnest($1::text[], $2::int[]) AS u(t, n)"
        " ON CONFLICT (topic, partition) DO UPDATE SET epoch = p.epoch + 1, owner_instance = $3, claimed_at = now(), updated_at = now()"
        " RETURNING topic, partition,"
        "   coalesce(next_offset, CASE WHEN topic IN (SELECT topic FROM started) THEN -2 ELSE -1 END),"
        "   epoch, (extract(epoch FROM watermark) * 1000000)::bigint",
        {topics, numbers, instance_id_});
    static_assert(engine::kFromLogStart == -2);
    std::map<engine::TopicPartition, engine::PartitionPosition> positions;
    for (int i = 0; i < PQntuples(rows.get()); ++i) {
        engine::TopicPartition tp{PQgetvalue(rows.get(), i, 0), std::atoi(PQgetvalue(rows.get(), i, 1))};
        positions[tp] = {std::atoll(PQgetvalue(rows.get(), i, 2)), std::atoll(PQgetvalue(rows.get(), i, 3)),
                         PQgetisnull(rows.get(), i, 4) ? engine::PartitionPosition{}.watermark_us : std::atoll(PQgetvalue(rows.get(), i, 4))};
    }
    return positions;
}

std::map<engine::TopicPartition, ProgressStore::Owner> ProgressStore::owners(const std::vector<engine::TopicPartition>& partitions) {
    const auto [topics, numbers] = partition_arrays(partitions);
    PgResult rows = connection().exec_params(
        "SELECT p.topic, p.partition, p.epoch, coalesce(p.owner_instance, '') FROM starstream.progress p"
        " JOIN unnest($1::text[], $2::int[]) AS u(t, n) ON p.topic = u.t AND p.partition = u.n",
        {topics, numbers});
    std::map<engine::TopicPartition, Owner> out;
    for (int i = 0; i < PQntuples(rows.get()); ++i)
        out[{PQgetvalue(rows.get(), i, 0), std::atoi(PQgetvalue(rows.get(), i, 1))}] = {std::atoll(PQgetvalue(rows.get(), i, 2)),
                                                                                         PQgetvalue(rows.get(), i, 3)};
    return out;
}

}  // namespace starstream::daemon::postgres
