// A spec pipeline's session windows (`session: {gap, key}`), merged into their shared table in the
// batch's transaction, exactly once with the offsets, whatever the batch boundaries, the arrival
// order, the partitioning (a key's records may come from every partition) or the instances.
//
// A session of one session key and group is the span [first record, last record + gap) of
// event time: a record within the gap of a session extends it, one whose span meets two joins
// them (engine/window/session_merge.h: spans [t, t + gap) that intersect are one session; two
// records exactly `gap` apart are two sessions). The table is the state, one row per (session
// key, group keys, start): the bounds [start, end) (end = last record + gap), the last record's
// event time (spec::kSessionLastEventTime) and the aggregates, merged as sessions merge:
//   count (with its own `where`: the records passing it)  counts add
//   sum                                                   sums add (NULL: nothing to add)
//   min, max                                              compared
//   any (with `where`: a record passed it)                OR
//   avg                       its state <c>_sum and <c>_count add; the value is their quotient
//   first(x), last(x)  x of the earliest (latest) record, by event time, passing the aggregate's
//                      filter; among records at that time the least (greatest) x, NULL the
//                      least, text compared bytewise: the rule of every window kind
//                      (spec_first_last.h), so that arrival order never decides. A session's
//                      first/last is the value at its first/last record, as the compiled clickstream's
//                      win_visits (sql/migrations/005) keeps it, whose table this spec language
//                      describes. With its own `where` the value's event time is kept in
//                      <column>_event_time (spec::aggregate_state_columns); without, it is the
//                      session's start (last event time).
// count_distinct is refused (unsupported): merging two sessions would need every distinct value.
//
// Per batch, under the window merge lock that SpecWindowWriter took (window_lock.h), against the
// watermark of the spec's topics it read:
//   1. each counted record (its fact is new) passing the table's filter is judged by the late
//      policy with engine judge_lateness, a record's window being its own [t, t + gap) (drop;
//      dead_letter: into starstream.late_event; correct: merged unless t + gap + allowed
//      lateness is not after the watermark, else a late dead letter). A correction merges into
//      whatever sessions it meets, also ones that ended before the watermark;
//   2. per key and group the batch's records form islands [lo, hi + gap), a new one wherever a
//      record is not within the gap of the one before (found in C++, so that the statements
//      below work on islands: the stage's operator admitted and sorted the records,
//      spec/session_fold.h, and the records step 1 excludes are skipped); each island is staged as its part: its bounds, counts and any
//      summed in C++, the values PostgreSQL must add or compare (sum, min, max, avg; first/last:
//      only the candidates at the island's earliest/latest time) one per row, so an island is
//      usually one row however many records it has;
//   3. the stored sessions the batch meets are read and locked (FOR UPDATE, in primary key
//      order, so that instances never deadlock): a stored session meets an island when it starts within it, or is the
//      last one starting before lo and its last record is within the gap of lo (stored sessions
//      never overlap, so no other can);
//   4. stored sessions and islands (their records aggregated) are merged as intervals (ordered by start, a new session
//      wherever a start is not before the greatest last + gap so far) and aggregated as above;
//      the stored sessions that merged into an earlier start are deleted, the others upserted.
// An island that meets no stored session is a new session on its own: the batch's islands of
// one key are a gap or more apart, so it meets none of them either. When the table's values
// can be computed in C++ exactly as step 4 computes them (copies_new_sessions: count, any, and
// first/last of bytewise text; keys and groups bytewise text or a dimension's key), such
// islands are copied straight into the table, and only the islands the lock found meeting a
// stored session are staged for step 4 (at the bench's density most islands are new: the
// statement aggregated and upserted them row by row, where a COPY writes in bulk).
// A session is final once no admissible record can meet it: when the watermark reaches its end
// (policies drop and dead_letter), its end + gap + allowed lateness (correct). Nothing stores
// it: it is a property of the row and the watermark.
// Thread rules: the sink thread; the SpecBatchWriter's connection, inside its transaction.
#pragma once

#include "driver/batch_sink.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/session_fold.h"
#include "spec/spec_batch.h"
#include "window/window_partials.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::postgres {

class SpecSessionWriter {
public:
    /// Creates the staging tables on `conn` for `window` (a session window of `spec`, runnable:
    /// unsupported() is empty). `filters`: the spec's (SpecWindowWriter's), kept by reference.
    /// A row's keys are indexed as the spec's dimensions. Throws PgError.
    SpecSessionWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout,
                      const spec::WindowTableSpec& window, const spec::RecordFilters& filters);

    /// Merges the batch's rows r in [begin, end) with `counted[r]` (their fact is new) into the
    /// table; the caller holds the window merge lock. `keys[d][r - begin]`: row r's key in
    /// dimension d (INT64_MIN: none). `watermark_us`: the spec topics' window watermark (Unix
    /// microseconds; INT64_MIN: nothing is late). Late records are counted into `late` and,
    /// dead-lettered, written to starstream.late_event. Returns the table's rows: inserted
    /// (new sessions), updated (grown), deleted (merged into an earlier one). Throws PgError.
    engine::TableRows merge(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                            const std::vector<bool>& counted, std::int64_t watermark_us, engine::LateRecords& late);

    const std::string& table() const { return table_; }
    /// Whether islands meeting no stored session are copied straight in (see the file comment).
    bool copies_new_sessions() const { return !copy_sql_.empty(); }

    /// Why `window` (a session window) cannot be computed ("" when it can), naming its key:
    /// count_distinct does not merge exactly from a session's columns.
    static std::string unsupported(const spec::WindowTableSpec& window);

    /// A typed staged value: a group key or an aggregate's input.
    using Input = spec::FoldedSession::Input;
    struct Aggregate {
        std::string column, type;  ///< the table's column and its type
        spec::AggregateFunction function = spec::AggregateFunction::count;
        std::optional<Input> input;    ///< none for count and any
        std::size_t where = spec::RecordFilters::kNone;  ///< the aggregate's own filter's number
        std::vector<std::string> state;  ///< spec::aggregate_state_columns: a filtered first/last's <c>_event_time; avg's <c>_sum, <c>_count
        std::string sum_type;            ///< avg: the type of <c>_sum (what sum(x) makes)
    };

private:
    using Admitted = spec::SessionFold::Admitted;
    /// The aggregates of one island's records: per aggregate, the records passing its filter;
    /// the values PostgreSQL adds or compares (sum, min, max, avg), or a first/last's candidates
    /// (the distinct values at its earliest/latest time among records passing its filter) and
    /// that time.
    struct IslandFold {
        std::vector<std::int64_t> counted;
        std::vector<std::vector<std::optional<std::string>>> values;
        std::vector<std::int64_t> extreme;
    };
    /// Folds the island's admitted records [first, last), sorted by time.
    IslandFold fold_island(const spec::SpecBatch& batch, const Admitted* first, const Admitted* last) const;
    /// Stages the part of the batch's island `island`, whose key parts are `key` (admit's, split),
    /// its records' fold `fold`, first and last event time `lo`, `hi` (step 2): one row, or one
    /// per value of its longest per-value aggregate.
    void stage_island(const std::vector<std::string_view>& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi, std::int32_t island);
    /// Writes an island that meets no stored session into copy_ as its session row (copy_sql_'s
    /// columns): the values step 4 would give it alone. Only when copies_new_sessions().
    void copy_session(const std::vector<std::string_view>& key, const IslandFold& fold, std::int64_t lo, std::int64_t hi);
    /// Why new sessions cannot be copied straight in ("" when they can), from the aggregates and
    /// the database's column types and collations. Throws PgError.
    std::string ineligible_for_copy(PgConnection& conn) const;

    PgConnection& conn_;
    BinaryCopyWriter& copy_;
    std::string table_, stage_table_;
    engine::WindowTableSpec window_;
    Input key_;
    const spec::RecordFilters& filters_;
    std::size_t where_;  ///< the table's filter's number
    std::shared_ptr<const spec::FoldedSession> folded_;  ///< what the session operator takes of the table (spec/session_fold.h)
    std::vector<Input> groups_;
    std::vector<Aggregate> aggregates_;
    std::string key_column_, start_column_, end_column_;
    std::vector<std::string> group_columns_;
    std::string lock_sql_;   ///< step 3: the stored sessions met, copied into stage_spec_<table>$met and locked; returns their count and the islands met
    std::string merge_sql_;  ///< step 4
    std::string copy_sql_;   ///< the COPY of new sessions into the table; "" when not copies_new_sessions()
};

}  // namespace starstream::daemon::postgres
