// Cells new to their table, copied straight in: the fast path of a spec window table whose
// aggregates only add (count, and count_distinct of text), as the compiled clickstream pipeline
// does for its hourly cells and panes (daemon/pipeline/).
//
// At the bench's density (48 h of event time, tens of thousands of devices) nearly every cell a
// batch touches is new to its table. The merge statement (spec_window_writer.cpp) aggregates
// per-record staged rows in SQL, then inserts cells and members through ON CONFLICT; INSERT
// ... SELECT writes row by row where COPY writes in bulk. So, per batch and under the window
// merge lock:
//   1. the batch's cells come folded (spec/window_fold.h: per cell each count, and each
//      count_distinct's distinct members, text compared bytewise: eligible only where the
//      column's collation is deterministic and no encoding conversion applies, so that equal
//      bytes are equal values), what the transaction excludes already subtracted (the Tally);
//   2. one probe finds which of the cells still counted the table holds (exact: no other
//      instance merges meanwhile); a cell starting after the table's newest window is new
//      without a probe (in a backlog, most of a batch's cells);
//   3. the other cells, with their members (a cell new to the table has none stored), are
//      copied into the table and its member tables; members only of windows still open once the
//      batch commits (in the bench's backlog, a third of them are final by then);
//   4. the caller merges the records of the stored cells with the additive merge statement.
// A member table holding members of a cell its table lacks (the cell deleted by hand, its
// members left) makes the member copy fail with a unique violation: a savepoint rolls the copies
// back, those members are deleted, so that the cell counts its members anew like its counts, and
// the copies are made again (the compiled pipeline's rule). Only a batch that meets one of those
// members again finds them: a batch that does not recreates the cell beside them, and the cell
// then counts those members as already seen, as the merge statement always did. Deleting them
// up front would take one more probe of the member table per new cell in every batch, for a
// repair of a hand's doing.
// Thread rules: the sink thread; the SpecBatchWriter's connection, inside its transaction.
#pragma once

#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/spec_window_table.h"
#include "spec/spec_batch.h"
#include "spec/window_fold.h"
#include "window/window_spec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// One record's part in one window of a table: the batch's row `row` (its index in the batch)
/// counted in `window`, in cell `cell` of its fold (WindowFold::kNoCell: none).
struct WindowContribution {
    std::size_t row = 0;
    engine::Window window;
    std::uint32_t cell = spec::WindowFold::kNoCell;
};

class SpecWindowCells {
public:
    /// Why `t` cannot take the fast path ("" when it can), from its spec and the database's
    /// column types and collations: a global table (its cells are nearly always stored), an
    /// aggregate other than count and count_distinct, a count_distinct of another type than
    /// text, a group other than a dimension's key or a text reference, or a column whose type
    /// or collation differs from what the copies send. Throws PgError.
    static std::string ineligible(PgConnection& conn, const SpecWindowTable& t);

    /// Creates the probe's staging table on `conn`. `t` must be eligible and outlive this.
    /// Throws PgError.
    SpecWindowCells(PgConnection& conn, BinaryCopyWriter& copy, const SpecWindowTable& t);

    struct Written {
        std::int64_t inserted = 0;  ///< cells new to the table, copied in
        std::vector<bool> stored;   ///< per cell of the fold: the table holds it (the caller merges its records)
    };
    /// Copies the cells of `fold` (of `batch`'s rows) that `tally` still counts and the table
    /// lacks, with the members `tally` keeps, and says which cells the table holds. A cell whose
    /// window ends at or before `final_through_us` (Unix microseconds: the final horizon of the
    /// watermark this transaction leaves) goes without its members: no record reaches it once
    /// the batch commits, and the next prune would delete them. Throws PgError.
    Written write(const spec::SpecBatch& batch, const spec::WindowFold& fold, const spec::WindowFold::Tally& tally,
                  std::int64_t final_through_us);

private:
    /// Writes cell `c`'s key fields (start, end, groups) into copy_ (`member_key`: the row key's
    /// columns as the member tables have them: no end unless cumulative).
    void copy_key(const spec::WindowFold& fold, std::size_t c, bool member_key, const spec::SpecBatch& batch);
    /// Stages into the probe's staging table (emptied first) the cells c of `fold` for which
    /// `pick(c)`; returns how many (none: the table is left as it was). Throws PgError.
    template <typename Pick>
    std::size_t stage_cells(const spec::WindowFold& fold, const spec::SpecBatch& batch, Pick pick);
    /// Copies the cells `copied` marks, then the members `tally` keeps of those ending after
    /// `final_through_us`. Throws PgError.
    void copy_new(const spec::WindowFold& fold, const spec::WindowFold::Tally& tally, const std::vector<bool>& copied,
                  std::int64_t final_through_us, const spec::SpecBatch& batch);

    PgConnection& conn_;
    BinaryCopyWriter& copy_;
    const SpecWindowTable& t_;
    std::string cells_table_;  ///< the probe's staging table: (n, window_start, window_end, g0...)
    std::string newest_sql_, probe_sql_, copy_cells_sql_;
    std::vector<std::string> copy_members_sql_, orphans_sql_;  ///< per count_distinct aggregate, in order
};

}  // namespace starstream::daemon::postgres
