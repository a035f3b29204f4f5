#include "sink/postgres/batch_ledger.h"

#include "sink/postgres/batch_writer.h"

#include "sink/postgres/progress_store.h"

#include <cstdlib>
#include <vector>

namespace starstream::daemon::postgres {

engine::TableRows upserted_rows(std::string table, const PgResult& returned) {
    engine::TableRows counts{std::move(table)};
    for (int i = 0; i < PQntuples(returned.get()); ++i) (*PQgetvalue(returned.get(), i, 0) == 't' ? counts.inserted : counts.updated) += 1;
    return counts;
}

BatchLedger::BatchLedger(PgConnection& conn, BinaryCopyWriter& copy, std::string instance_id)
    : conn_(conn), copy_(copy), instance_id_(std::move(instance_id)) {
    // Lives for the session and empties itself at each COMMIT or ROLLBACK.
    conn_.exec("CREATE TEMP TABLE " + stage_table_ + " (LIKE starstream.dead_letter) ON COMMIT DELETE ROWS");
}

std::int64_t BatchLedger::next_batch_id() {
    PgResult row = conn_.exec("SELECT nextval('starstream.batch_id_seq')");
    return std::atoll(PQgetvalue(row.get(), 0, 0));
}

bool BatchLedger::landed(std::int64_t batch_id) {
    return PQntuples(conn_.exec_params("SELECT 1 FROM starstream.batch WHERE batch_id = $1", {std::to_string(batch_id)}).get()) > 0;
}

std::int64_t BatchLedger::refused_since_facts() {
    PgResult r = conn_.exec(
        "SELECT count(*) FROM starstream.dead_letter WHERE sqlstate IS NOT NULL"
        " AND batch_id > coalesce((SELECT max(batch_id) FROM starstream.batch WHERE facts_inserted > 0), 0)");
    return std::atoll(PQgetvalue(r.get(), 0, 0));
}

bool BatchLedger::settle_backend(int pid) {
    // pg_terminate_backend(pid, timeout) (Postgres 14+) waits for the process to exit; a pid that
    // is gone already only raises a warning (logged at debug by the notice processor). It answers
    // false both then and on a timeout: whether the process is still there is asked separately.
    conn_.exec_params("SELECT pg_terminate_backend($1::int, 5000)", {std::to_string(pid)});
    return PQntuples(conn_.exec_params("SELECT 1 FROM pg_stat_activity WHERE pid = $1::int", {std::to_string(pid)}).get()) == 0;
}

engine::TableRows BatchLedger::copy_dead_letters(const engine::MicroBatch& batch) {
    copy_.reset();
    for (const auto& d : batch.dead_letters) {
        copy_.begin_row(8);
        copy_.text(batch.topics[d.topic_index]);
        copy_.int4(d.partition);
        copy_.int8(d.offset);
        copy_.text(d.reason);
        copy_.bytea(d.payload);
        d.kafka_timestamp_ms >= 0 ? copy_.timestamptz_us(d.kafka_timestamp_ms * 1000) : copy_.null();
        copy_.int8(batch.batch_id);
        d.code.empty() ? copy_.null() : copy_.text(d.code);
    }
    // Through staging with ON CONFLICT: after an operator rewinds a partition (README,
    // "Reset a consumer position"), its messages are read again and must not fail the batch.
    conn_.copy_in("COPY " + stage_table_ + " (topic, partition, \"offset\", reason, payload, kafka_timestamp, batch_id, sqlstate) FROM STDIN (FORMAT binary)",
                   copy_.finish());
    const std::int64_t inserted = affected_rows(conn_.exec("INSERT INTO starstream.dead_letter SELECT * FROM " + stage_table_ + " ON CONFLICT DO NOTHING"));
    return {"dead_letter", inserted, 0, static_cast<std::int64_t>(batch.dead_letters.size()) - inserted};
}

void BatchLedger::update_progress(const engine::MicroBatch& batch) {
    std::vector<std::string> topics, partitions, offsets, epochs, watermarks;
    for (const auto& [tp, position] : batch.checkpoint) {
        topics.push_back(tp.topic);
        partitions.push_back(std::to_string(tp.partition));
        offsets.push_back(std::to_string(position.next_offset));
        epochs.push_back(std::to_string(position.epoch));
        watermarks.push_back(position.watermark_us == engine::PartitionPosition{}.watermark_us ? "" : std::to_string(position.watermark_us));
    }
    // The watermark never goes back, whatever a rewound position replays.
    PgResult updated = conn_.exec_params(
        "UPDATE starstream.progress AS p SET next_offset = u.o, batch_id = $5, updated_at = now(),"
        " watermark = greatest(p.watermark, 'epoch'::timestamptz + nullif(u.w, '')::bigint * interval '1 microsecond')"
        " FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $6::text[]) AS u(t, n, o, e, w)"
        " WHERE p.topic = u.t AND p.partition = u.n AND p.epoch = u.e"
        " RETURNING p.topic, p.partition",
        {text_array(topics), text_array(partitions), text_array(offsets), text_array(epochs), std::to_string(batch.batch_id),
         text_array(watermarks)});
    if (PQntuples(updated.get()) == static_cast<int>(batch.checkpoint.size())) return;
    std::set<engine::TopicPartition> fenced;
    for (const auto& [tp, position] : batch.checkpoint) fenced.insert(tp);
    for (int i = 0; i < PQntuples(updated.get()); ++i) fenced.erase({PQgetvalue(updated.get(), i, 0), std::atoi(PQgetvalue(updated.get(), i, 1))});
    throw FencedError(std::move(fenced));
}

void BatchLedger::record_offset_gaps(const engine::MicroBatch& batch) {
    for (const auto& g : batch.offset_gaps)
        conn_.exec_params(
            "INSERT INTO starstream.offset_gap (topic, partition, from_offset, to_offset, log_start, log_end, policy, instance_id, detected_at, batch_id)"
            " VALUES ($1, $2, $3, $4, nullif($5, '-1')::bigint, nullif($6, '-1')::bigint, $7, $8,"
            " 'epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10) ON CONFLICT DO NOTHING",
            {g.partition.topic, std::to_string(g.partition.partition), std::to_string(g.from_offset), std::to_string(g.to_offset),
             std::to_string(g.log_start), std::to_string(g.log_end), g.policy, instance_id_, std::to_string(g.detected_at_us),
             std::to_string(batch.batch_id)});
}

void BatchLedger::insert_batch_row(const engine::MicroBatch& batch, const BatchTotals& totals) {
    const bool has_times = totals.min_event_time_us <= totals.max_event_time_us;
    auto late_total = [&](int policy) { return std::to_string(totals.late[static_cast<std::size_t>(policy)]); };
    conn_.exec_params(
        "INSERT INTO starstream.batch (batch_id, records, facts_inserted, duplicates, dead_letters, min_event_time, max_event_time,"
        " watermark, late_dropped, late_dead_lettered, late_corrected, instance_id)"
        " VALUES ($1, $2, $3, $4, $5, to_timestamp(nullif($6, '')::double precision / 1e6), to_timestamp(nullif($7, '')::double precision / 1e6),"
        " 'epoch'::timestamptz + nullif($8, '')::bigint * interval '1 microsecond', $9, $10, $11, $12)",
        {std::to_string(batch.batch_id), std::to_string(batch.records), std::to_string(totals.facts_inserted),
         std::to_string(totals.duplicates), std::to_string(totals.dead_letters),
         has_times ? std::to_string(totals.min_event_time_us) : "", has_times ? std::to_string(totals.max_event_time_us) : "",
         totals.window_watermark_us == INT64_MIN ? "" : std::to_string(totals.window_watermark_us), late_total(0), late_total(1), late_total(2),
         instance_id_});
}

}  // namespace starstream::daemon::postgres
