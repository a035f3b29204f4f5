// The window operators' folds as the sink writes them: the stage's fold of a table when it holds
// for what the sink writes, else one the sink folds itself with the same code
// (spec/window_fold.h, spec/session_fold.h). A stage's fold holds when it covers exactly the rows
// written (a bisection probe writes part of a batch; a batch that lost rows has no folds) and
// was made with the dimension keys the sink merged: the dimension merge may give a row a stored
// member's key instead of the one the stage computed (a key of several spellings:
// dimension_merge.h).
// Thread rules: the sink thread.
#pragma once

#include "spec/record_filters.h"
#include "spec/spec_batch.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

/// Whether the stage's keys (SpecRow::member_keys) of the batch's rows [begin, end) equal the
/// merged `keys` (keys[d][r - begin]) in each dimension d of `dimensions`.
bool stage_keys_hold(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                     const std::vector<std::size_t>& dimensions);

/// The fold of `table` over the batch's rows [begin, end) with the merged `keys`: the stage's
/// among `folds` when it holds, else one folded here into `own` from `description` (the
/// operator's view of the table; `dimensions` the dimensions its keys read). `Fold`: WindowFold
/// or SessionFold.
template <typename Fold, typename Description>
const Fold& fold_for_write(const std::vector<Fold>& folds, const std::shared_ptr<const Description>& description,
                           const std::vector<std::size_t>& dimensions, const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                           const std::vector<std::vector<std::int64_t>>& keys, const spec::RecordFilters& filters, std::optional<Fold>& own) {
    for (const Fold& f : folds)
        if (f.table() == description->table && f.sealed() && f.first_row() == begin && f.rows() == end - begin &&
            stage_keys_hold(batch, begin, end, keys, dimensions))
            return f;
    own.emplace(description, begin);
    std::vector<std::int64_t> row_keys(keys.size());
    for (std::size_t r = begin; r < end; ++r) {
        for (std::size_t d = 0; d < keys.size(); ++d) row_keys[d] = keys[d][r - begin];
        own->add(batch.rows, row_keys, filters);
    }
    own->seal();
    return *own;
}

}  // namespace starstream::daemon::postgres
