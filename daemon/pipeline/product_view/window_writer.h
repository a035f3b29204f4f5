// Merges one batch's windowed partial aggregates into the shared windowed tables, inside the
// batch transaction of StarBatchWriter (so they commit with the offsets, exactly once), under
// the window merge lock (window_lock.h):
//   win_hourly_product_views  views added; visitors added as the devices new to the cell in
//                             win_hourly_product_views_visitors_members (exact distinct counts);
//   win_product_view_panes    views added;
//   (cells and panes the table does not hold yet, nearly all of a batch's, are copied straight
//   in, a new cell with all its visitors; only the stored ones go through the additive upsert;)
//   win_visits                the batch's sessions merged with the stored visits of their
//                             devices that they touch (engine merge_sessions); the touched
//                             visits are deleted and the merged ones copied in (the lock makes
//                             the read rows the only ones: no upsert needed);
//   starstream.late_event     late records of the dead-letter policy and too-late corrections;
//   visitor rows of windows past allowed lateness pruned (no record can reach them any more).
// The window watermark (view starstream.window_watermark) is read under the same lock.
// Thread rules: one thread (the sink thread); uses StarBatchWriter's connection.
#pragma once

#include "driver/batch_sink.h"
#include "pipeline/product_view/clickstream_windows.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"

#include <vector>

namespace starstream::daemon::product_view {

using engine::TableRows;

class WindowWriter {
public:
    /// Creates the staging tables on `conn`. Throws postgres::PgError.
    WindowWriter(postgres::PgConnection& conn, postgres::BinaryCopyWriter& copy, const WindowSettings& settings);

    /// Takes the window merge lock (held to the end of the open transaction) and returns the
    /// window watermark, Unix microseconds, INT64_MIN when there is none yet. Throws postgres::PgError.
    std::int64_t lock_and_read_watermark();
    /// Merges `windows` (from `batch`; its sessions are taken); returns rows per table. Throws postgres::PgError.
    std::vector<TableRows> write(const StarBatch& batch, BatchWindows& windows);

private:
    /// Per cell keyed by `columns` (one array per key column, in the probe's order): whether the
    /// table holds it already. Throws postgres::PgError.
    std::vector<bool> stored_cells(const char* probe_sql, const std::vector<std::vector<std::int64_t>>& columns);
    TableRows merge_hourly(const engine::WindowPartials& hourly);
    /// An hourly cell of the batch: window, key, partial aggregate.
    struct HourlyCell {
        std::int64_t start_us, end_us, product, store, location;
        const engine::AggregateState* aggregates;
    };
    /// Copies the cells not `stored` and their visitors straight into the tables; returns how many
    /// cells. Throws postgres::PgError (a unique violation when a visitor is stored already).
    std::int64_t copy_new_cells(const std::vector<HourlyCell>& cells, const std::vector<bool>& stored);
    /// Copies `c` as a row of win_hourly_product_views (and of its staging table) with `visitors`.
    void copy_cell(const HourlyCell& c, std::int64_t visitors);
    /// Deletes the stored visitors of the cells not `stored` (keys as for stored_cells); returns how many.
    /// Throws postgres::PgError.
    std::int64_t delete_visitors_of_new_cells(const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& stored);
    /// Copies a member row per visitor of `cell`.
    void copy_visitors(const HourlyCell& cell);
    TableRows merge_panes(const engine::WindowPartials& panes);
    TableRows merge_visits(engine::WindowPartials& visits);
    TableRows insert_late(const StarBatch& batch, const BatchWindows& windows);
    void prune_visitors(std::int64_t watermark_us);

    postgres::PgConnection& conn_;
    postgres::BinaryCopyWriter& copy_;
    WindowSettings settings_;
    std::int64_t pruned_through_us_ = INT64_MIN;  ///< the last horizon pruned, floored to the hour
};

}  // namespace starstream::daemon::product_view
