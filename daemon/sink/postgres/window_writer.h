// Writes the clickstream's windowed rows, late events and window operator state inside the
// batch transaction of StarBatchWriter (so they commit with the offsets, exactly once):
//   retracted sessions deleted; window rows upserted (staged by binary COPY); late events of the
//   dead-letter policy inserted (a replay after a rewind inserts nothing twice); each changed
//   partition's encoded operator state upserted into starstream.window_state.
// Thread rules: one thread (the sink thread); uses StarBatchWriter's connection.
#pragma once

#include "pipeline/product_view/clickstream_windows.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"

#include <vector>

namespace starstream::daemon::postgres {

struct TableRows;

class WindowWriter {
public:
    /// Creates the staging tables on `conn`. Throws PgError.
    WindowWriter(PgConnection& conn, BinaryCopyWriter& copy);

    /// Reads committed operator state (within the open transaction). Throws PgError.
    product_view::ClickstreamWindows::StateLoader state_loader();
    /// Writes what `windows` produced for `batch`; returns rows per windowed table. Throws PgError.
    std::vector<TableRows> write(const product_view::StarBatch& batch, const std::vector<product_view::PartitionWindows>& windows);

private:
    TableRows upsert(const char* table, const std::string& sql);

    PgConnection& conn_;
    BinaryCopyWriter& copy_;
};

}  // namespace starstream::daemon::postgres
