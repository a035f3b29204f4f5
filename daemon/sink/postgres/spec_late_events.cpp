#include "sink/postgres/spec_late_events.h"

#include "sink/postgres/temp_table_name.h"

namespace starstream::daemon::postgres {

namespace {
/// One per process, shared by every spec table (temp_table_name.h: "stage_spec$<n>$late_event").
const std::string kStage = temp_table_name("stage_spec", "", "late_event");
}  // namespace

void SpecLateEvents::create_staging(PgConnection& conn) {
    conn.exec("CREATE TEMP TABLE " + kStage + " (LIKE starstream.late_event) ON COMMIT DELETE ROWS");
}

void SpecLateEvents::add(const std::string& table, const spec::SpecBatch& batch, const spec::SpecRow& row, const engine::Window& target,
                         std::int64_t watermark_us) {
    rows_.begin_row(10), rows_.text(table), rows_.text(batch.topics[row.topic_index]), rows_.int4(row.partition);
    rows_.int8(row.offset), rows_.timestamptz_us(row.event_time_us), rows_.int8((watermark_us - row.event_time_us) / 1000);
    rows_.timestamptz_us(target.start_us), rows_.timestamptz_us(target.end_us), rows_.timestamptz_us(watermark_us);
    rows_.int8(batch.batch_id);
    ++staged_;
}

void SpecLateEvents::insert(PgConnection& conn) {
    if (staged_ == 0) return;
    // The staging table holds what earlier tables of this batch staged too: ON CONFLICT skips them.
    conn.copy_in("COPY " + kStage + " FROM STDIN (FORMAT binary)", rows_.finish());
    conn.exec("INSERT INTO starstream.late_event SELECT * FROM " + kStage + " ON CONFLICT DO NOTHING");
}

}  // namespace starstream::daemon::postgres
