// A spec pipeline's windowed aggregates (tumbling, hopping, cumulative, global), merged into their shared
// tables in the batch's transaction, exactly once with the offsets (DESIGN.md invariant 8: one
// row per window and group for the whole topic, whatever the partitioning or the instances).
// The window operator ran before the sink: each record passing a table's filter was assigned its
// windows, and a counting table's batch folded into cells, by the stage (spec/window_fold.h).
// Per batch, under the window merge lock (window_lock.h):
//   1. the window watermark of the spec's topics is read (the minimum of their partitions'
//      committed watermarks; not starstream.window_watermark, which spans every topic of the
//      database: another pipeline's history must not make these records late); each record
//      whose fact is new is judged against it by the table's late policy (drop: counted;
//      dead_letter: into starstream.late_event; correct: aggregated unless its last window ended
//      allowed_lateness or more before the watermark, else a late dead letter; a correction
//      reaches only those of its windows still within allowed lateness), with
//      engine/window/window_partials.h's judge_lateness; the contributions of the others are
//      taken out of the fold (WindowFold::subtract). The watermark the batch's commit will
//      leave (its checkpoint's watermarks in) is read too, and starstream.pipeline_watermark
//      raised to it, so that no later batch judges against less;
//   2. one staged row per (record, window): the bounds, the group values (a dimension's
//      surrogate key, or a reference's value), each aggregate's input (NULL when the record fails
//      the aggregate's own filter), and, for first and last, the record's event time (NULL
//      when it fails the filter);
//      A global window has one row per group for all time: no bounds, no record is ever late;
//   3. count_distinct: the values new to their window and group go into the aggregate's member
//      table (spec::distinct_member_table); how many were new is what the count adds; mode: the
//      batch's occurrences of each non-empty value are added to its occurrence table
//      (spec::mode_count_table), and the value re-derived from it for each row the batch touches
//      (the most occurrences, a tie to the smallest value, text in byte order);
//   4. one upsert per table: the batch's partials per window and group, merged into the stored
//      row (count, sum, count_distinct add; min and max compare; NULLs are nothing to add; avg
//      adds its state columns <c>_sum and <c>_count and sets the value to their quotient; first
//      and last keep the value of the earliest (latest) record, a tie in event time going to the
//      least (greatest) value, NULL the least (spec_first_last.h, the sessions' rule), its state
//      <c>_event_time and value compared with the batch's; any ORs).
//   5. the member and occurrence tables lose the rows of windows that no record can reach any
//      more (final: their end, plus allowed lateness under the correct policy, at or before
//      the watermark); their values stay in the window's row.
// A table whose aggregates only count (count, and count_distinct of bytewise text) copies the
// cells of the fold new to it, with their members (less those of windows final once the batch
// commits), straight in; only the records of cells it holds take steps 2-4 (spec_window_cells.h).
// Every merge is commutative and associative over records, so a window's row is the same
// whatever the batch boundaries, the arrival order or the instance that merged which part.
// Rows are merged in key order, so instances never deadlock one another.
// Session windows: SpecSessionWriter (spec_session_writer.h), under the same lock and watermark.
// Thread rules: the sink thread; the SpecBatchWriter's connection, inside its transaction.
#pragma once

#include "driver/batch_sink.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/spec_window_table.h"
#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/spec_batch.h"
#include "window/window_partials.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// What the windows of one batch did.
struct SpecWindowOutcome {
    std::vector<engine::TableRows> tables;
    std::vector<engine::LateRecords> late;
    std::int64_t watermark_us = INT64_MIN;  ///< the window watermark lateness was judged against (the spec's topics')
    /// The database-wide window watermark (starstream.window_watermark) as read under the window
    /// lock, Unix microseconds; INT64_MIN: none. For starstream.batch.watermark: see write().
    std::int64_t database_watermark_us = INT64_MIN;
};

class SpecWindowWriter {
public:
    /// Creates the staging tables on `conn` for `spec`'s window tables. `dimensions`: the spec's
    /// dimension tables in order (the index a row's keys use). Throws PgError.
    SpecWindowWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout,
                     const std::vector<std::string>& dimensions);
    ~SpecWindowWriter();

    bool empty() const { return tables_.empty() && sessions_.empty(); }
    /// Merges the batch's rows r in [begin, end) with `counted[r]` (their fact is new).
    /// `keys[d][r - begin]`: row r's key in dimension d (INT64_MIN: none). Throws PgError.
    SpecWindowOutcome write(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                            const std::vector<bool>& counted);

    /// Why `window` cannot be computed from a spec yet ("" when it can).
    static std::string unsupported(const spec::WindowTableSpec& window);

    using Table = SpecWindowTable;

private:
    /// The spec's window watermark, Unix microseconds (INT64_MIN: none yet).
    struct TopicsWatermark {
        std::int64_t judged_us = INT64_MIN;        ///< in force for this batch: its records' lateness is judged against it
        std::int64_t after_commit_us = INT64_MIN;  ///< in force once this batch commits (its checkpoint's watermarks in)
    };
    engine::TableRows merge(const Table& t, const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                            const std::vector<std::vector<std::int64_t>>& keys, const std::vector<bool>& counted,
                            const TopicsWatermark& watermark, SpecWindowOutcome& outcome);
    /// Stages `row` (the batch's row `at` from the write's begin: its keys[d][at]) in window `w`
    /// of `t` (none: a global window's one row per group).
    void stage(const Table& t, const spec::SpecRow& row, std::size_t at, const std::vector<std::vector<std::int64_t>>& keys,
               const std::optional<engine::Window>& w);
    /// Deletes from `t`'s member and occurrence tables the rows of the windows final at
    /// `watermark_us` (Unix microseconds, as merge judged lateness), once per step of the table's
    /// grid the horizon moves. Throws PgError.
    void prune(Table& t, std::int64_t watermark_us);
    /// The spec's window watermark: the minimum committed watermark of its topics' partitions,
    /// floored by the greatest one used before (starstream.pipeline_watermark), so that it never
    /// goes back when a partition without a watermark appears; and the same once `batch`'s
    /// checkpoint is committed, to which it raises the floor in this transaction. Under the
    /// window merge lock. Throws PgError.
    TopicsWatermark topics_watermark(const engine::MicroBatch& batch);

    PgConnection& conn_;
    BinaryCopyWriter& copy_;
    std::string pipeline_;  ///< the spec's name (starstream.pipeline_watermark)
    std::string topics_;    ///< the spec's topics as a text[] literal
    spec::RecordFilters filters_;  ///< numbered as the stage's (SpecRow::passed_filters)
    std::vector<std::unique_ptr<Table>> tables_;
    std::vector<std::unique_ptr<class SpecSessionWriter>> sessions_;
};

}  // namespace starstream::daemon::postgres
