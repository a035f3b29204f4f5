#include "tools/checkpoint_table.h"

#include "sink/postgres/progress_store.h"  // text_array

#include <cstdlib>

namespace starstream::daemon::tools {

namespace {

using postgres::PgResult;

/// The partitions as two parallel Postgres arrays ($1 text[], $2 int[]) for unnest.
std::vector<std::string> partition_arrays(const std::vector<engine::TopicPartition>& partitions) {
    std::vector<std::string> topics, numbers;
    for (const auto& tp : partitions) {
        topics.push_back(tp.topic);
        numbers.push_back(std::to_string(tp.partition));
    }
    return {postgres::text_array(topics), postgres::text_array(numbers)};
}

constexpr const char* kSelectColumns =
    "SELECT p.topic, p.partition, p.next_offset, p.epoch, p.owner_instance,"
    " to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    " FROM starstream.progress p JOIN unnest($1::text[], $2::int[]) AS u(t, n) ON p.topic = u.t AND p.partition = u.n";

std::map<engine::TopicPartition, Checkpoint> checkpoints_of(const PgResult& rows) {
    std::map<engine::TopicPartition, Checkpoint> out;
    for (int i = 0; i < PQntuples(rows.get()); ++i) {
        auto text = [&](int column) -> std::optional<std::string> {
            if (PQgetisnull(rows.get(), i, column)) return std::nullopt;
            return std::string(PQgetvalue(rows.get(), i, column));
        };
        Checkpoint c;
        if (auto offset = text(2)) c.next_offset = std::atoll(offset->c_str());
        c.epoch = std::atoll(PQgetvalue(rows.get(), i, 3));
        c.owner_instance = text(4);
        c.updated_at = PQgetvalue(rows.get(), i, 5);
        out[{PQgetvalue(rows.get(), i, 0), std::atoi(PQgetvalue(rows.get(), i, 1))}] = std::move(c);
    }
    return out;
}

/// COMMIT; when its reply is lost the outcome is unknown, and the error says so.
void commit(postgres::PgConnection& conn) {
    try {
        conn.exec("COMMIT");
    } catch (const postgres::PgError& e) {
        if (conn.ok()) throw;
        throw CommitOutcomeUnknown(std::string("the COMMIT's outcome is unknown (connection lost before its reply; see "
                                               "`starstreamd offsets show`): ") + e.what(), e.sqlstate(), true);
    }
}

}  // namespace

std::map<engine::TopicPartition, Checkpoint> read_checkpoints(postgres::PgConnection& conn,
                                                              const std::vector<engine::TopicPartition>& partitions) {
    return checkpoints_of(conn.exec_params(kSelectColumns, partition_arrays(partitions)));
}

std::map<engine::TopicPartition, MovedCheckpoint> move_checkpoints(postgres::PgConnection& conn,
                                                                   const std::map<engine::TopicPartition, std::int64_t>& new_offsets) {
    std::vector<engine::TopicPartition> partitions;
    std::vector<std::string> offsets;
    for (const auto& [tp, offset] : new_offsets) {
        partitions.push_back(tp);
        offsets.push_back(std::to_string(offset));
    }
    std::vector<std::string> params = partition_arrays(partitions);
    params.push_back(postgres::text_array(offsets));

    conn.exec("BEGIN");
    try {
        // Lock first: a concurrent batch commit waits for us, then finds its epoch gone.
        const auto before = checkpoints_of(conn.exec_params(std::string(kSelectColumns) + " ORDER BY 1, 2 FOR UPDATE OF p", {params[0], params[1]}));
        const PgResult after = conn.exec_params(
            "INSERT INTO starstream.progress AS p (topic, partition, next_offset, epoch)"
            " SELECT t, n, o, 1 FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(t, n, o)"
            " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, epoch = p.epoch + 1, updated_at = now()"
            " RETURNING topic, partition, next_offset, epoch",
            params);
        commit(conn);
        std::map<engine::TopicPartition, MovedCheckpoint> out;
        for (int i = 0; i < PQntuples(after.get()); ++i) {
            const engine::TopicPartition tp{PQgetvalue(after.get(), i, 0), std::atoi(PQgetvalue(after.get(), i, 1))};
            MovedCheckpoint& m = out[tp];
            if (auto it = before.find(tp); it != before.end()) m.before = it->second;
            m.next_offset = std::atoll(PQgetvalue(after.get(), i, 2));
            m.epoch = std::atoll(PQgetvalue(after.get(), i, 3));
        }
        return out;
    } catch (...) {
        // The original error says what went wrong; a failing ROLLBACK (connection gone) would
        // only hide it, and the server rolls back a lost session by itself.
        try {
            if (conn.ok()) conn.exec("ROLLBACK");
        } catch (const postgres::PgError&) {
        }
        throw;
    }
}

}  // namespace starstream::daemon::tools
