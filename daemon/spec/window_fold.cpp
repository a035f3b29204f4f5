#include "spec/window_fold.h"

#include "spec/table_schema.h"
#include "spec/value_text.h"

#include <algorithm>
#include <tuple>
#include <type_traits>

namespace starstream::daemon::spec {

// A batch's folds live in a vector: moving one must keep the views of its members valid.
static_assert(std::is_nothrow_move_constructible_v<WindowFold> && !std::is_copy_constructible_v<WindowFold>);

namespace {

const std::string kText = "text";

auto member_key(const WindowFold::Member& m) { return std::tie(m.aggregate, m.cell, m.value); }
bool member_less(const WindowFold::Member& a, const WindowFold::Member& b) { return member_key(a) < member_key(b); }

}  // namespace

engine::WindowSpec engine_window(const WindowTableSpec& w) {
    switch (w.kind) {
        case WindowKind::tumbling: return {engine::WindowKind::tumbling, w.size_us, 0, 0};
        case WindowKind::hopping: return {engine::WindowKind::hopping, w.size_us, w.slide_us, 0};
        case WindowKind::cumulative: return {engine::WindowKind::cumulative, w.size_us, w.slide_us, 0};
        case WindowKind::session:
        case WindowKind::global: break;
    }
    return {engine::WindowKind::session, 0, 0, w.gap_us};
}

std::vector<FoldedWindow> folded_windows(const PipelineSpec& spec, const ReferenceLayout& layout, const RecordFilters& filters) {
    std::vector<FoldedWindow> out;
    for (const auto& w : spec.windows) {
        if (w.kind == WindowKind::session || w.kind == WindowKind::global) continue;
        FoldedWindow f{w.table, engine_window(w), filters.number(w.where), {}, {}, true};
        for (const auto& g : w.group_by) {
            if (const DimensionSpec* d = spec.dimension(g)) {
                f.groups.push_back({static_cast<std::size_t>(d - spec.dimensions.data()), "bigint", true});
            } else {
                f.groups.push_back({layout.at(g), reference_type(spec, g), false});
                f.counting = f.counting && f.groups.back().type == kText;
            }
        }
        for (const auto& a : w.aggregates) {
            FoldedWindow::Aggregate agg{filters.number(a.where), std::nullopt};
            if (a.function == AggregateFunction::count_distinct && !a.of.empty() && reference_type(spec, a.of) == kText)
                agg.input = layout.at(a.of);
            else if (a.function != AggregateFunction::count)
                f.counting = false;
            f.aggregates.push_back(agg);
        }
        if (!f.counting) f.groups.clear(), f.aggregates.clear();
        out.push_back(std::move(f));
    }
    return out;
}

WindowFold::WindowFold(std::shared_ptr<const FoldedWindow> window, std::size_t first_row) : window_(std::move(window)), first_row_(first_row) {}

void WindowFold::contributions(std::size_t index, const SpecRow& row, const RecordFilters& filters, std::vector<Contribution>& out) const {
    out.clear();
    if (window_->counting) {  // the windows are the cells': not assigned again (a NULL group's is none)
        const std::size_t r = index - first_row_;
        for (std::size_t k = r == 0 ? 0 : row_end_[r - 1]; k < row_end_[r]; ++k)
            out.push_back({row_cells_[k] == kNoCell ? engine::Window{} : cells_[row_cells_[k]].window, row_cells_[k]});
        return;
    }
    if (!filters.passes(window_->where, row)) return;
    for (const engine::Window& w : engine::assign_windows(window_->window, row.event_time_us)) out.push_back({w, kNoCell});
}

template <typename KeyOf>
bool WindowFold::name_cell(const engine::Window& w, const SpecRow& row, KeyOf key_of) {
    // A cell is named by its bytes (bounds, then each group: a key's 8 bytes, or a text's length
    // and bytes), so that two cells never share a name.
    name_.assign(reinterpret_cast<const char*>(&w), sizeof w);
    for (std::size_t g = 0; g < window_->groups.size(); ++g) {
        if (window_->groups[g].dimension) {
            const std::int64_t key = key_of(g);
            if (key == INT64_MIN) return false;
            name_.append(reinterpret_cast<const char*>(&key), sizeof key);
        } else if (const auto v = input_view(row.values[window_->groups[g].index], kText, buffer_)) {
            const auto size = static_cast<std::uint32_t>(v->size());
            name_.append(reinterpret_cast<const char*>(&size), sizeof size).append(*v);
        } else {
            return false;
        }
    }
    return true;
}

std::uint32_t WindowFold::cell_of(const engine::Window& w, const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys) {
    if (index_.empty() && !cells_.empty()) {  // freed by seal(): named again from the cells
        for (std::uint32_t c = 0; c < cells_.size(); ++c) {
            name_cell(cells_[c].window, rows[cells_[c].row], [&](std::size_t g) { return group_key(c, g); });
            index_.emplace(names_.store(name_).view(), c);
        }
    }
    const SpecRow& row = rows[first_row_ + rows_];
    if (!name_cell(w, row, [&](std::size_t g) { return keys[window_->groups[g].index]; })) return kNoCell;
    if (const auto at = index_.find(std::string_view(name_)); at != index_.end()) return at->second;
    const auto cell = static_cast<std::uint32_t>(cells_.size());
    index_.emplace(names_.store(name_).view(), cell);
    cells_.push_back({w, first_row_ + rows_});
    for (const auto& g : window_->groups) group_keys_.push_back(g.dimension ? keys[g.index] : 0);
    counts_.resize(counts_.size() + window_->aggregates.size(), 0);
    cell_records_.push_back(0);
    return cell;
}

void WindowFold::add(const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys, const RecordFilters& filters) {
    const SpecRow& row = rows[first_row_ + rows_];
    sealed_ = false;
    if (window_->counting && filters.passes(window_->where, row)) {  // else nothing to keep: contributions() assigns the windows
        for (const engine::Window& w : engine::assign_windows(window_->window, row.event_time_us)) {
            const std::uint32_t cell = cell_of(w, rows, keys);
            row_cells_.push_back(cell);
            if (cell == kNoCell) continue;
            ++cell_records_[cell];
            const std::size_t n = window_->aggregates.size();
            for (std::size_t a = 0; a < n; ++a) {
                const FoldedWindow::Aggregate& aggregate = window_->aggregates[a];
                if (!filters.passes(aggregate.where, row)) continue;
                if (!aggregate.input) {
                    ++counts_[cell * n + a];
                    continue;
                }
                const auto v = input_view(row.values[*aggregate.input], kText, buffer_);
                if (!v) continue;  // NULL: not a member
                std::string_view value = *v;
                if (value.data() == buffer_.data()) value = owned_.store(value).view();  // formatted into the buffer: kept
                members_.push_back({static_cast<std::uint32_t>(a), cell, value});
            }
        }
    }
    if (window_->counting) row_end_.push_back(static_cast<std::uint32_t>(row_cells_.size()));
    ++rows_;
}

void WindowFold::seal() {
    // The sink reads cells, not names: freed while the batch waits (cell_of names them again if need be).
    decltype(index_)().swap(index_), names_ = TextArena();
    sealed_ = true;
    if (sealed_members_ == members_.size()) return;
    const auto mid = members_.begin() + static_cast<std::ptrdiff_t>(sealed_members_);
    std::sort(mid, members_.end(), member_less);
    std::inplace_merge(members_.begin(), mid, members_.end(), member_less);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < members_.size(); ++i) {
        if (kept > 0 && member_key(members_[kept - 1]) == member_key(members_[i]))
            members_[kept - 1].records += members_[i].records;
        else
            members_[kept++] = members_[i];
    }
    members_.resize(kept);
    sealed_members_ = kept;
    // A count_distinct's count is its cell's distinct members: counted again from them.
    const std::size_t n = window_->aggregates.size();
    for (std::size_t c = 0; c < cells_.size(); ++c)
        for (std::size_t a = 0; a < n; ++a)
            if (window_->aggregates[a].input) counts_[c * n + a] = 0;
    for (const Member& m : members_) ++counts_[m.cell * n + m.aggregate];
}

WindowFold::Tally WindowFold::tally() const {
    Tally t{counts_, cell_records_, {}};
    t.member_records.reserve(members_.size());
    for (const Member& m : members_) t.member_records.push_back(m.records);
    return t;
}

std::size_t WindowFold::find_member(const Member& m) const {
    const auto at = std::lower_bound(members_.begin(), members_.end(), m, member_less);
    return at != members_.end() && member_key(*at) == member_key(m) ? static_cast<std::size_t>(at - members_.begin()) : std::string::npos;
}

void WindowFold::subtract(Tally& tally, const SpecRow& row, std::uint32_t cell, const RecordFilters& filters) const {
    --tally.cell_records[cell];
    const std::size_t n = window_->aggregates.size();
    std::string buffer;
    for (std::size_t a = 0; a < n; ++a) {
        const FoldedWindow::Aggregate& aggregate = window_->aggregates[a];
        if (!filters.passes(aggregate.where, row)) continue;
        if (!aggregate.input) {
            --tally.counts[cell * n + a];
            continue;
        }
        const auto v = input_view(row.values[*aggregate.input], kText, buffer);
        if (!v) continue;
        const std::size_t m = find_member({static_cast<std::uint32_t>(a), cell, *v});
        if (m != std::string::npos && --tally.member_records[m] == 0) --tally.counts[cell * n + a];  // no record brings it any more
    }
}

}  // namespace starstream::daemon::spec
