// `starstreamd offsets show|reset`: the operator's kafka-consumer-groups for starstream, whose
// positions live in starstream.progress rather than in Kafka's group offsets.
//
// show: per partition of the chosen topics, the checkpoint (next_offset), the log start and log
// end (high watermark) asked of Kafka, the lag, the owner instance, its epoch, the last update.
// reset: computes each partition's new next_offset from --to (earliest = log start, latest = log
// end, timestamp = first record at or after it or the log end when none is that late, offset=n
// only inside [log start, log end]), prints old -> new and, unless --dry-run, moves every
// checkpoint in one Postgres transaction that bumps the epochs (checkpoint_table.h).
//
// Deadlines: Kafka requests wait at most source.startup_timeout_ms each, the Postgres connection
// postgres.connect_timeout_ms. Exit codes: 0 done; 2 refused (unknown topic or partition, an
// offset outside the log, a librdkafka property rejected) with nothing changed; 3 Postgres or
// Kafka unreachable or refusing (also: schema not migrated); 1 anything else.
// Thread rules: runs on the main thread; nothing runs concurrently.
#pragma once

#include "config/config.h"
#include "tools/offsets_arguments.h"

#include <ostream>

namespace starstream::daemon::tools {

/// Runs the command; writes its report to `out` and a refusal or failure to `err` (one line,
/// naming the topic, partition, key or dependency; secrets redacted). Returns the exit code.
int run_offsets(const Config& config, const OffsetsArguments& arguments, std::ostream& out, std::ostream& err);

}  // namespace starstream::daemon::tools
