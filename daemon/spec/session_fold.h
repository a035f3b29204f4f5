// The session window operator of a spec, run on the poll thread as records are appended to their
// micro-batch (DESIGN.md data flow: operators before the sink): each record passing the table's
// filter whose session key and group keys all have a value is admitted with its key (the parts
// in input syntax, each after its 4-byte length: a dimension's surrogate key in decimal), its
// event time and row; sealed, the admitted records are sorted by (key, event time, row). The sink
// then finds the batch's islands (engine/window/session_merge.h: records of one key within the
// gap of the one before) in one pass over the records its transaction keeps: the others (a fact
// not new, a late record) are skipped, which never reorders the rest.
//
// A function of the batch's rows and their dimension keys: a batch that loses rows drops its
// session folds, and the sink folds what it writes itself, as it does when the keys it merged
// differ from the stage's (spec_window_writer.h).
// Thread rules: add() and seal() on one thread (the poll thread, or the sink thread for its own
// fold); once sealed and handed off, read-only.
#pragma once

#include "spec/key_input.h"
#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/spec_row.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::spec {

/// What the fold takes of one session window table of a spec.
struct FoldedSession {
    std::string table;
    std::size_t where = RecordFilters::kNone;  ///< the table's filter (RecordFilters number)
    using Input = KeyInput;
    Input key;                  ///< the session key (a reference)
    std::vector<Input> groups;  ///< in the spec's order

    /// The dimensions whose keys the fold reads (its dimension groups').
    std::vector<std::size_t> dimensions() const { return dimensions_read(groups); }
};

/// The spec's session window tables, in spec order. `layout` and `filters` are the spec's.
std::vector<FoldedSession> folded_sessions(const PipelineSpec& spec, const ReferenceLayout& layout, const RecordFilters& filters);

/// The parts of an admitted record's key (SessionFold::key): the session key's, then each group's.
std::vector<std::string_view> session_key_parts(std::string_view key);

class SessionFold {
public:
    /// A record admitted into the sessions: its key, the bytes [key_at, key_at + key_size) of
    /// the fold's key text, its event time (Unix microseconds) and the batch's row.
    struct Admitted {
        std::size_t key_at = 0;
        std::uint32_t key_size = 0;
        std::int64_t t = 0;
        std::size_t r = 0;
    };

    /// Folds rows from the batch's row `first_row` on.
    SessionFold(std::shared_ptr<const FoldedSession> session, std::size_t first_row);

    /// Admits the batch's next row, rows[first_row() + rows()], unless it fails the table's
    /// filter or a part of its key has no value. `keys[d]`: its key in dimension d
    /// (MemberKeys::kNone for none); `filters` the spec's.
    void add(const std::vector<SpecRow>& rows, std::span<const std::int64_t> keys, const RecordFilters& filters);
    /// Sorts what was admitted since the last seal; more rows may be added after, then seal again.
    void seal();

    const FoldedSession& session() const { return *session_; }
    const std::string& table() const { return session_->table; }
    std::size_t first_row() const { return first_row_; }
    std::size_t rows() const { return rows_; }
    /// No row was added since the last seal (an empty fold is sealed).
    bool sealed() const { return sealed_; }
    /// The admitted records, sorted by (key, event time, row) once sealed.
    const std::vector<Admitted>& admitted() const { return admitted_; }
    std::string_view key(const Admitted& a) const { return std::string_view(key_text_).substr(a.key_at, a.key_size); }

private:
    std::shared_ptr<const FoldedSession> session_;
    std::size_t first_row_, rows_ = 0;
    std::string key_text_;  ///< every admitted record's key, one after the other
    std::vector<Admitted> admitted_;
    std::size_t sorted_ = 0;  ///< admitted_[0, sorted_) is sorted
    bool sealed_ = true;
};

}  // namespace starstream::daemon::spec
