#include "spec/session_fold.h"

#include "spec/table_schema.h"
#include "spec/value_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <tuple>

namespace starstream::daemon::spec {

namespace {

/// Appends `part` to a key: its 4-byte length, then its bytes (so that no part's bytes can be
/// read as another split of the same key).
void append_part(std::string& key, std::string_view part) {
    const auto n = static_cast<std::uint32_t>(part.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n).append(part);
}

}  // namespace

std::vector<FoldedSession> folded_sessions(const PipelineSpec& spec, const ReferenceLayout& layout, const RecordFilters& filters) {
    std::vector<FoldedSession> out;
    for (const auto& w : spec.windows) {
        if (w.kind != WindowKind::session) continue;
        FoldedSession s{w.table, filters.number(w.where), {layout.at(w.session_key), reference_type(spec, w.session_key), false}, {}};
        for (const auto& g : w.group_by) {
            if (const DimensionSpec* d = spec.dimension(g))
                s.groups.push_back({static_cast<std::size_t>(d - spec.dimensions.data()), "bigint", true});
            else
                s.groups.push_back({layout.at(g), reference_type(spec, g), false});
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::string_view> session_key_parts(std::string_view key) {
    std::vector<std::string_view> parts;
    while (!key.empty()) {
        std::uint32_t n = 0;
        std::memcpy(&n, key.data(), sizeof n);
        parts.push_back(key.substr(sizeof n, n));
        key.remove_prefix(sizeof n + n);
    }
    return parts;
}

SessionFold::SessionFold(std::shared_ptr<const FoldedSession> session, std::size_t first_row)
    : session_(std::move(session)), first_row_(first_row) {}

void SessionFold::add(const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys, const RecordFilters& filters) {
    const std::size_t r = first_row_ + rows_++;
    sealed_ = false;
    const SpecRow& row = rows[r];
    if (!filters.passes(session_->where, row)) return;
    const std::size_t at = key_text_.size();
    std::string buffer;
    // A record without its session key or a group key is in no session, as it is in no fixed
    // window; runnable_problem makes them required fields.
    auto part = [&](const FoldedSession::Input& in) {
        if (in.dimension) {
            const std::int64_t k = keys[in.index];
            if (k == INT64_MIN) return false;
            return append_part(key_text_, fmt::format_int(k).str()), true;
        }
        const auto v = input_view(row.values[in.index], in.type, buffer);
        return v && (append_part(key_text_, *v), true);
    };
    if (!part(session_->key) || !std::all_of(session_->groups.begin(), session_->groups.end(), part)) {
        key_text_.resize(at);
        return;
    }
    admitted_.push_back({at, static_cast<std::uint32_t>(key_text_.size() - at), row.event_time_us, r});
}

void SessionFold::seal() {
    sealed_ = true;
    if (sorted_ == admitted_.size()) return;
    // Only equal keys need to be adjacent (the sink's lock statement orders what it locks
    // itself), so the encoded bytes sort.
    auto less = [this](const Admitted& a, const Admitted& b) {
        const int c = key(a).compare(key(b));
        return c != 0 ? c < 0 : std::tie(a.t, a.r) < std::tie(b.t, b.r);
    };
    const auto mid = admitted_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    std::sort(mid, admitted_.end(), less);
    std::inplace_merge(admitted_.begin(), mid, admitted_.end(), less);
    sorted_ = admitted_.size();
}

}  // namespace starstream::daemon::spec
