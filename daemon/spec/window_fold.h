// The window operator of a spec's tumbling, hopping and cumulative tables, run on the poll thread
// as records are appended to their micro-batch (DESIGN.md data flow: operators before the sink):
// in a counting table (count, and count_distinct of text, grouped by dimension keys and text),
// each record passing the table's filter is assigned its windows (engine/window/window_spec.h,
// the one implementation of window semantics) and the batch is folded into cells (window,
// groups) with partial aggregates: per cell each count, and per member of a count_distinct the
// number of records that brought it. Another table keeps nothing per record: contributions()
// assigns its windows, with the same code, when the sink asks (24 bytes per (record, window)
// held for a batch's life would cost more than the arithmetic).
//
// Two facts only the sink's transaction knows decide which of those contributions count: whether
// a record's fact is new (the dedupe against stored facts) and the shared watermark that makes a
// (record, window) late. The sink subtracts the contributions they exclude from a Tally copied
// from the fold (a batch may be written more than once: retries, bisection probes) and merges the
// rest. Counts and distinct members subtract exactly: a member stays while a record still brings
// it.
//
// The fold is a function of the batch's rows, their dimension keys and filters: a batch that loses
// rows (drop_rows, remove_rows) drops its folds, and the sink folds again what it writes (the same
// code, on the sink thread), as it does when the keys it merged differ from the stage's.
// Thread rules: add() and seal() on one thread (the poll thread, or the sink thread for its own
// fold); once sealed and handed off, read-only.
#pragma once

#include "spec/key_input.h"
#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/spec_row.h"
#include "spec/text_arena.h"
#include "window/window_spec.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace starstream::daemon::spec {

/// The engine's window spec of a tumbling, hopping or cumulative table (a session's gap in a
/// session spec; a global table has none: never call it with one).
engine::WindowSpec engine_window(const WindowTableSpec& w);

/// What the fold takes of one window table of a spec (tumbling, hopping or cumulative).
struct FoldedWindow {
    std::string table;
    engine::WindowSpec window;
    std::size_t where = RecordFilters::kNone;  ///< the table's filter (RecordFilters number)
    struct Aggregate {
        std::size_t where = RecordFilters::kNone;  ///< the aggregate's own filter
        std::optional<std::size_t> input;          ///< count_distinct: its reference (text); count: none
    };
    /// Groups (dimension keys, or text references) and aggregates in the spec's order; empty
    /// unless `counting`.
    std::vector<KeyInput> groups;
    std::vector<Aggregate> aggregates;
    /// Every aggregate is a count or a count_distinct of text, every group a dimension or text:
    /// the fold keeps cells and partials. Else it only assigns windows.
    bool counting = false;

    /// The dimensions whose keys the fold reads (its dimension groups').
    std::vector<std::size_t> dimensions() const { return dimensions_read(groups); }
};

/// The spec's tables the fold takes, in spec order: every window table but sessions and global
/// ones. `layout` and `filters` are the spec's (filters numbered as the stage's).
std::vector<FoldedWindow> folded_windows(const PipelineSpec& spec, const ReferenceLayout& layout, const RecordFilters& filters);

class WindowFold {
public:
    static constexpr std::uint32_t kNoCell = UINT32_MAX;

    /// One window of one record; `cell` its cell in a counting table (kNoCell otherwise, and for
    /// a record with a NULL group: counted nowhere, as the sink's merge statement has it).
    struct Contribution {
        engine::Window window;
        std::uint32_t cell = kNoCell;
    };
    struct Cell {
        engine::Window window;
        std::size_t row = 0;  ///< the batch's row that first contributed (its text groups name the cell)
    };
    struct Member {
        std::uint32_t aggregate = 0, cell = 0;
        std::string_view value;  ///< a view of the batch's text, or of the fold's own copy (kept when the fold moves)
        std::int64_t records = 1;  ///< the records of the batch that brought it there
    };
    /// What subtraction changes, per write: copied from the fold (tally()).
    struct Tally {
        std::vector<std::int64_t> counts;          ///< [cell * aggregates + a]: a count, or count_distinct's members still brought
        std::vector<std::int64_t> cell_records;    ///< per cell: contributions still counted (0: the cell is not written)
        std::vector<std::int64_t> member_records;  ///< per member: records still bringing it
    };

    /// Folds rows from the batch's row `first_row` on. `window` is shared by every fold of the table.
    WindowFold(std::shared_ptr<const FoldedWindow> window, std::size_t first_row);

    /// Folds the batch's next row, rows[first_row() + rows()], of the batch's `rows`. `keys[d]`:
    /// its key in dimension d (MemberKeys::kNone for none); `filters` the spec's. Texts are
    /// viewed, not copied: the batch's arena must outlive the fold.
    void add(const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys, const RecordFilters& filters);
    /// Sorts and counts the members added since the last seal, and frees the cells' index. Call
    /// before reading cells or members; more rows may be added after (a hand-off that waited),
    /// then seal again.
    void seal();

    const FoldedWindow& window() const { return *window_; }
    const std::string& table() const { return window_->table; }
    std::size_t first_row() const { return first_row_; }
    std::size_t rows() const { return rows_; }
    /// No row was added since the last seal (an empty fold is sealed).
    bool sealed() const { return sealed_; }
    /// The contributions of the batch's row `index` (first_row() <= index < first_row() +
    /// rows()), `row`, into `out`, in assign_windows order; none when it fails the table's filter.
    /// A counting table keeps each one's cell (4 bytes), whose window it is (a NULL group's
    /// contribution has none: it is counted nowhere); another table's windows are assigned again
    /// (arithmetic), not kept: a table of many windows per record would hold 24 bytes per
    /// (record, window) for the batch's life.
    void contributions(std::size_t index, const SpecRow& row, const RecordFilters& filters, std::vector<Contribution>& out) const;
    const std::vector<Cell>& cells() const { return cells_; }
    /// Dimension group g of cell c: group_key(c, g) (for a text group: read the cell's row).
    std::int64_t group_key(std::size_t cell, std::size_t group) const { return group_keys_[cell * window_->groups.size() + group]; }
    /// Sorted by (aggregate, cell, value), each once (sealed).
    const std::vector<Member>& members() const { return members_; }

    /// The fold's numbers, for a write to subtract from.
    Tally tally() const;
    /// Takes `row`'s contribution to `cell` (one of its contributions', not kNoCell) out of `tally`.
    void subtract(Tally& tally, const SpecRow& row, std::uint32_t cell, const RecordFilters& filters) const;

private:
    std::shared_ptr<const FoldedWindow> window_;
    std::size_t first_row_;
    std::size_t rows_ = 0;
    std::vector<std::uint32_t> row_cells_;  ///< a counting table's: per (row, window) its cell, in row order
    std::vector<std::uint32_t> row_end_;    ///< a counting table's: per row, the end of its windows' cells in row_cells_
    std::vector<Cell> cells_;
    std::vector<std::int64_t> group_keys_;    ///< [cell * groups + g]
    std::vector<std::int64_t> counts_;        ///< as Tally::counts
    std::vector<std::int64_t> cell_records_;  ///< as Tally::cell_records
    std::vector<Member> members_;  ///< [0, sealed_members_) sorted and unique; the rest as added
    std::size_t sealed_members_ = 0;
    bool sealed_ = true;
    std::unordered_map<std::string_view, std::uint32_t> index_;  ///< cell by name (name_cell); empty once sealed
    TextArena names_;  ///< the index's names (one allocation per block, not per cell)
    TextArena owned_;  ///< member texts formatted here: its blocks never move, not even with the fold
    std::string name_, buffer_;      ///< scratch

    /// Names in name_ the cell of `w` with `row`'s groups (`key_of(g)`: dimension group g's
    /// key); false for a NULL group.
    template <typename KeyOf>
    bool name_cell(const engine::Window& w, const SpecRow& row, KeyOf key_of);
    /// The cell of `w` for the next row of `rows` (add()); kNoCell for a NULL group.
    std::uint32_t cell_of(const engine::Window& w, const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys);
    /// The sealed member's index; npos when none.
    std::size_t find_member(const Member& m) const;
};

}  // namespace starstream::daemon::spec
