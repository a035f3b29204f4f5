// The late records a spec window table's policy dead-letters (dead_letter, or a correction past
// allowed lateness), listed in starstream.late_event with the batch: per record its table, Kafka
// position, event time, lateness (ms), the window it belonged to (a session's: its own
// [t, t + gap)) and the watermark it was judged against. Shared by SpecWindowWriter and
// SpecSessionWriter (they stage through one temporary table).
// Thread rules: the sink thread; the SpecBatchWriter's connection, inside its transaction.
#pragma once

#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "spec/spec_batch.h"
#include "window/window_spec.h"

#include <cstdint>
#include <string>

namespace starstream::daemon::postgres {

class SpecLateEvents {
public:
    /// Creates the staging table on `conn` (once per connection). Throws PgError.
    static void create_staging(PgConnection& conn);

    /// Stages `row` of `batch`, dead-lettered by `table` against `watermark_us` (Unix microseconds).
    void add(const std::string& table, const spec::SpecBatch& batch, const spec::SpecRow& row, const engine::Window& target, std::int64_t watermark_us);

    /// Inserts what was staged into starstream.late_event; ON CONFLICT DO NOTHING: a replay after
    /// an operator's rewind lists nothing twice. Throws PgError.
    void insert(PgConnection& conn);

private:
    BinaryCopyWriter rows_;
    std::size_t staged_ = 0;
};

}  // namespace starstream::daemon::postgres
