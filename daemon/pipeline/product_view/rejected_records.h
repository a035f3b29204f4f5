// Records Postgres rejects (DESIGN.md invariant 9, "no poison pill"): when a batch fails with a
// data exception (SQLSTATE class 22), an integrity constraint violation (23) or a program limit
// (54, an index row too large), its facts
// are bisected with rolled-back probes (StarBatchWriter::probe) until the ones Postgres refuses
// are found; they become dead letters with the raw message, the error and its SQLSTATE, and the
// rest of the batch commits (MicroBatch::dead_letter_rows, called by the engine's sink loop).
// How: one trial transaction (always rolled back) merges the batch's members, then copies the
// facts under savepoints: a range that passes stays, a refused one is split in two. With k
// refused among n facts that copies about n (log2 k + 2) rows once (bench/results.md,
// "Instances and bisection"). When the members themselves are refused, ranges of facts are
// probed in transactions of their own with only the members they reference.
// Trials write facts and members, not windows, dead letters or progress rows: an error those
// raise is not pinned to a record, and the caller stops. A unique violation on a fact's key at
// a leaf is another instance's concurrent insert of the same event id: not a dead letter.
// Thread rules: the sink thread.
#pragma once

#include "batch/micro_batch.h"
#include "pipeline/product_view/star_batch.h"
#include "sink/postgres/pg_connection.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::product_view {

class StarBatchWriter;

/// Bisects `batch`'s facts with `writer`'s probes; returns the facts Postgres refuses, in index
/// order (RejectedRow::row indexes StarBatch::facts; reason "rejected by Postgres: <the error's
/// first line>", code its SQLSTATE, no payload: the sink loop reads it back), empty when every
/// fact passes on its own (the error lies elsewhere); stops once more than `limit` are found.
/// Throws postgres::PgError when a probe fails transiently.
std::vector<engine::RejectedRow> find_rejected(StarBatchWriter& writer, const StarBatch& batch,
                                               const std::function<void()>& progress = [] {}, std::size_t limit = SIZE_MAX);

}  // namespace starstream::daemon::product_view
