// Writes one spec pipeline's micro-batch in ONE Postgres transaction, projecting its rows onto
// the spec's tables (the tables spec/table_schema.h describes, made by the spec migrations):
//   1. dimensions, in spec order: members staged by binary COPY (every value as text, cast to
//      its column's type by the INSERT, so a value Postgres refuses is a data error pinned to its
//      record) and merged on their natural key; keys are the stage's (SpecRow::member_keys,
//      spec/member_keys.h). Policies: SCD type 1 (the attributes of the latest event by event time, ties
//      to the greatest values, whatever the order, batches or instances: scd1_by_event_time_merge),
//      SCD type 0 (inserted once, never rewritten: attributes that are a function of the key), SCD type 2 (Scd2Merge: versions tiling time, facts
//      pointing at the version current at their event time), earliest attribute (the earliest
//      event carrying the first attribute sets them all, ties to the smallest values; first and
//      last seen widen: the same member whatever the order, batches or instances). dim_date is the conformed calendar
//      dimension: its attribute columns are derived from the date key as the compiled pipeline's are;
//   2. facts (SpecFactWriter): the records whose grain the table does not hold yet, the first
//      of each within the batch, copied straight into it: a record read again (a replay, a
//      duplicate) adds nothing;
//   3. windowed aggregates (SpecWindowWriter: tumbling, hopping, cumulative; count, sum, min,
//      max, avg, count_distinct, first, last, any; sessions: SpecSessionWriter), under the window
//      merge lock, judged against the window watermark;
//   4. the batch's bookkeeping (BatchLedger): dead letters, fenced progress, offset gaps, batch row.
// Not yet (refused at start): count_distinct on session windows.
// Thread rules: the sink thread; owns its connection.
#pragma once

#include "sink/postgres/batch_writer.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/scd2_merge.h"
#include "spec/enricher_runtime.h"
#include "spec/member_keys.h"
#include "spec/pipeline_spec.h"
#include "spec/spec_batch.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace starstream::daemon::postgres {

class SpecBatchWriter final : public BatchWriter {
public:
    /// Connects and prepares the staging tables of `spec` (validated, runnable: see
    /// runnable_problem). `specs`: every spec the daemon knows (an SCD type 2 dimension's facts
    /// may belong to several). Throws PgError.
    SpecBatchWriter(const PgSettings& settings, const spec::PipelineSpec& spec, const std::vector<spec::PipelineSpec>& specs,
                    std::string instance_id, const std::atomic<bool>* abort_flag = nullptr);
    ~SpecBatchWriter() override;

    /// `batch` must be a spec::SpecBatch of this spec.
    engine::CommitReport write(const engine::MicroBatch& batch) override;
    std::vector<engine::RejectedRow> find_rejected(const engine::MicroBatch& batch, const std::function<void()>& progress,
                                                   std::size_t limit) override;
    BatchLedger& ledger() override { return *ledger_; }
    int backend_pid() const override { return conn_->backend_pid(); }
    void ping() override { conn_->exec("SELECT 1"); }

private:
    struct Dimension;
    /// A dimension's staging table and merge (connection-scoped, made once).
    std::unique_ptr<Dimension> make_dimension(const spec::PipelineSpec& spec, const spec::DimensionSpec& d, const std::vector<Scd2Dimension>& scd2);
    using Keys = std::vector<std::vector<std::int64_t>>;  ///< per dimension, per row: its key (INT64_MIN: none)
    /// Writes dimensions and facts of rows [begin, end) into the open transaction; returns rows
    /// per table (the first fact table's inserted rows are the batch's facts), fills `keys` and
    /// `new_rows` (per row of the batch: its fact in the first fact table is new).
    std::vector<engine::TableRows> write_rows(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, Keys& keys,
                                              std::vector<bool>& new_rows);
    /// Keys of the dimension for each row of [begin, end), merging its members.
    std::vector<std::int64_t> merge_dimension(const Dimension& d, const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                              engine::TableRows& rows);
    /// Replaces in `keys` the staged members' keys whose dimension row holds another one
    /// (Dimension::stored_keys_sql); nothing for other dimensions. Inside the batch's transaction.
    void use_stored_keys(const Dimension& d, std::vector<std::int64_t>& keys);
    /// merge_dimension for an earliest-attribute dimension.
    std::vector<std::int64_t> merge_earliest(const Dimension& d, const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                             engine::TableRows& rows);
    /// A probe for bisection: rows [begin, end) written and rolled back; the error, if any.
    std::optional<PgError> probe(const spec::SpecBatch& batch, std::size_t begin, std::size_t end);
    void rollback();

    std::unique_ptr<PgConnection> conn_;
    BinaryCopyWriter copy_;
    std::unique_ptr<BatchLedger> ledger_;
    spec::ReferenceLayout layout_;
    spec::MemberKeys member_keys_;  ///< for rows the stage did not key (SpecRow::member_keys)
    std::vector<std::unique_ptr<Dimension>> dimensions_;
    std::vector<std::unique_ptr<class SpecFactWriter>> facts_;
    std::unique_ptr<class SpecWindowWriter> windows_;
};

/// Why `spec` cannot run as a spec pipeline yet ("" when it can): a key column named like its
/// surrogate key that is not an integer, an SCD type 2 attribute that is not required
/// (of a dimension with several: a single one may be optional), windows
/// without an event-grain fact first, an aggregate a window cannot compute
/// (SpecWindowWriter::unsupported), a group key or session key that is not a required field or
/// a group key that is an SCD type 2 dimension.
std::string runnable_problem(const spec::PipelineSpec& spec);

}  // namespace starstream::daemon::postgres
