// One windowed table of a spec pipeline (tumbling, hopping, cumulative or global) as the sink
// writes it: its window and late policy, its groups and aggregates in staging order, and the
// statements built for it once at start-up (spec_window_writer.cpp).
// Thread rules: built on the sink thread at start-up, then read and written by that thread only.
#pragma once

#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/window_fold.h"
#include "window/window_partials.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

class SpecWindowCells;

struct SpecWindowTable {
    SpecWindowTable();
    ~SpecWindowTable();

    std::string name, stage_table;
    engine::WindowTableSpec spec;
    /// What the window operator folds of it (spec/window_fold.h); null for a global table.
    std::shared_ptr<const spec::FoldedWindow> folded;
    bool cumulative = false;  ///< windows share their start: the end is part of the key
    bool global = false;      ///< one row per group for all time: no bounds, never late
    std::string start_column, end_column;
    std::size_t where = spec::RecordFilters::kNone;  ///< the table's filter's number
    struct Group {
        std::string column, type;
        std::size_t index = 0;  ///< a reference's index, or a dimension's
        bool dimension = false;
    };
    std::vector<Group> groups;
    struct Aggregate {
        std::string column;
        spec::AggregateFunction function = spec::AggregateFunction::count;
        std::optional<std::size_t> input;  ///< none for count
        std::string type;                  ///< the input's type
        std::size_t where = spec::RecordFilters::kNone;  ///< the aggregate's own filter's number
        std::string members;  ///< count_distinct: its member table; mode: its occurrence table
        std::vector<std::string> state;  ///< its state columns (spec::aggregate_state_columns)
        std::string value_type;          ///< avg: its column's type (numeric or double precision)
    };
    std::vector<Aggregate> aggregates;
    /// The fields of a staged row: bounds, group keys, aggregate inputs and, per first/last,
    /// its record's event time (ft<i>, NULL when the record fails the aggregate's filter).
    std::size_t staged_fields = 0;
    std::string merge_sql;
    std::vector<std::string> mode_sql;  ///< mode_count_sql of each mode aggregate, run before merge_sql
    /// The statements deleting, from each count_distinct member table and mode occurrence table,
    /// the rows of windows ending at or before $1 (Unix microseconds): prune_sql.
    std::vector<std::string> prune_sql;
    std::int64_t pruned_through_us = INT64_MIN;  ///< the last horizon pruned (final_horizon)
    /// The batch's cells folded in memory, the new ones copied straight in (spec_window_cells.h);
    /// null when an aggregate or a type needs the merge statement for every cell.
    std::unique_ptr<SpecWindowCells> cells;
};

}  // namespace starstream::daemon::postgres
