// The command line of `starstreamd offsets show|reset`: its own arguments (--to, --topic,
// --partitions, --dry-run, --format) are taken out before load_config sees the rest, so the
// configuration keys, file and environment work exactly as for `run`.
//
//   starstreamd offsets show  [--topic T] [--partitions 0,3] [--format text|json] --config F ...
//   starstreamd offsets reset --to earliest|latest|timestamp=<ISO 8601>|offset=<n>
//                             [--topic T] [--partitions 0,3] [--dry-run] [--format text|json] ...
//
// Errors: ConfigError (exit 2) naming the argument. Thread rules: pure functions.
#pragma once

#include "config/config.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::tools {

enum class OffsetsAction { show, reset };
enum class OutputFormat { text, json };

/// Where `offsets reset --to` moves a partition.
struct ResetTarget {
    enum class Kind { earliest, latest, timestamp, offset };
    Kind kind = Kind::earliest;
    std::int64_t value = 0;  ///< timestamp: Unix milliseconds; offset: the offset; else unused
    std::string text;        ///< as the operator wrote it, for messages
};

struct OffsetsArguments {
    OffsetsAction action = OffsetsAction::show;
    OutputFormat format = OutputFormat::text;
    std::optional<std::string> topic;      ///< none: every topic of source.topics
    std::vector<std::int32_t> partitions;  ///< ascending, distinct; empty: every partition of the topic
    ResetTarget to;                        ///< reset only
    bool dry_run = false;                  ///< reset only: compute and print, change nothing
};

/// A command line with the offsets arguments taken out.
struct SplitCommandLine {
    std::vector<std::string> rest;            ///< argv[0], the command and the configuration flags
    std::optional<OffsetsArguments> offsets;  ///< set when the command is `offsets`
    /// `rest` as an argv array for load_config; the pointers live as long as `rest`.
    std::vector<const char*> argv() const;
};

/// Splits argv when its command (first positional argument) is `offsets`; otherwise returns
/// it unchanged. Throws ConfigError on a missing or unknown action, a missing --to for reset,
/// an argument that does not apply to the action, or an invalid value.
SplitCommandLine split_offsets_arguments(int argc, const char* const argv[]);

/// Parses the value of --to. A timestamp needs a date, a time and a zone (Z or +hh:mm), e.g.
/// 2024-05-01T12:00:00Z or 2024-05-01T14:00:00.250+02:00; fractions below a millisecond round
/// up, since no Kafka record lies between. Throws ConfigError naming --to.
ResetTarget parse_reset_target(const std::string& text);

/// The usage lines of the offsets command, for --help.
std::string offsets_usage();

}  // namespace starstream::daemon::tools
