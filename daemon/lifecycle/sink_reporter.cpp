#include "lifecycle/sink_reporter.h"

#include <chrono>

namespace starstream::daemon {

void SinkReporter::committed(const engine::MicroBatch& batch, const engine::CommitReport& report) {
    probe_.batch_committed();
    probe_.phase("stage", report.stage_seconds);
    probe_.phase("merge", report.merge_seconds);
    // Part of merge: 0.10-0.36 s of a 0.31-0.78 s merge per 25,000-record batch (bench/results.md,
    // --log.level=debug). Zero only when no window was merged (windows off, or a spec without windows).
    if (const double windows = report.window_apply_seconds + report.window_write_seconds; windows > 0) probe_.phase("windows", windows);
    probe_.phase("commit", report.commit_seconds);
    probe_.deduplicated(static_cast<std::size_t>(report.duplicates));
    for (const auto& t : report.tables) {
        if (t.inserted) probe_.rows_written(t.table, "inserted", t.inserted);
        if (t.updated) probe_.rows_written(t.table, "updated", t.updated);
        if (t.unchanged) probe_.rows_written(t.table, "unchanged", t.unchanged);
        if (t.deleted) probe_.rows_written(t.table, "deleted", t.deleted);
    }
    for (const auto& late : report.late) probe_.late_records(late.table, late.by_policy);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (std::int64_t t : report.event_times_us) probe_.freshness(now - static_cast<double>(t) / 1e6);
    state_.batch_committed({batch.batch_id, batch.records, report.stage_seconds, report.merge_seconds, report.commit_seconds, now}, lane_);
}

void SinkReporter::retrying(const engine::SinkResult& result) {
    probe_.postgres_retry();
    state_.commit_failed(result.error, result.status == engine::SinkResult::Status::transient, lane_);
}

void SinkReporter::rejected(std::size_t rows) {
    for (std::size_t i = 0; i < rows; ++i) probe_.dead_lettered("rejected by Postgres");
}

}  // namespace starstream::daemon
