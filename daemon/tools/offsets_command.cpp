#include "tools/offsets_command.h"

#include "sink/postgres/pg_settings.h"
#include "source/kafka_source.h"  // SourceConfigError
#include "source/log_offsets.h"
#include "tools/checkpoint_table.h"
#include "tools/offsets_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace starstream::daemon::tools {

namespace {

using engine::LogOffsets;
using engine::LogRange;
using engine::TopicPartition;

constexpr int kExitRuntime = 1;
constexpr int kExitRefused = 2;
constexpr int kExitUnavailable = 3;

/// The operator asked for something that does not exist or is not allowed: exit 2, nothing changed.
class Refused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

std::string describe(const std::vector<std::int32_t>& partitions) {
    std::vector<std::string> names;
    for (auto p : partitions) names.push_back(std::to_string(p));
    return join(names);
}

// ---- which partitions ------------------------------------------------------------------

std::vector<std::string> chosen_topics(const Config& config, const OffsetsArguments& arguments) {
    if (!arguments.topic) return config.topics;
    if (std::find(config.topics.begin(), config.topics.end(), *arguments.topic) == config.topics.end())
        throw Refused("topic '" + *arguments.topic + "' is not in source.topics (" + join(config.topics) +
                      "): this configuration does not consume it");
    return {*arguments.topic};
}

/// The partitions the command works on, from Kafka's metadata; refuses unknown ones.
std::vector<TopicPartition> chosen_partitions(LogOffsets& log, const Config& config, const OffsetsArguments& arguments) {
    std::vector<TopicPartition> out;
    for (const auto& topic : chosen_topics(config, arguments)) {
        const auto existing = log.partitions(topic);
        if (!existing)
            throw Refused("topic '" + topic + "' does not exist on the cluster (bootstrap.servers " + config.kafka.at("bootstrap.servers") +
                          "), or this client may not describe it");
        std::vector<std::int32_t> wanted = arguments.partitions.empty() ? *existing : arguments.partitions;
        std::vector<std::int32_t> unknown;
        for (auto p : wanted)
            if (!std::binary_search(existing->begin(), existing->end(), p)) unknown.push_back(p);
        if (!unknown.empty())
            throw Refused("topic '" + topic + "' has no partition " + describe(unknown) + " (it has " + std::to_string(existing->size()) +
                          " partitions: " + std::to_string(existing->front()) + ".." + std::to_string(existing->back()) + ")");
        for (auto p : wanted) out.push_back({topic, p});
    }
    return out;
}

std::map<TopicPartition, LogRange> ranges_of(LogOffsets& log, const std::vector<TopicPartition>& partitions) {
    std::map<TopicPartition, LogRange> out;
    for (const auto& tp : partitions) out[tp] = log.range(tp);
    return out;
}

// ---- show ------------------------------------------------------------------------------

int show(const Config& config, const OffsetsArguments& arguments, std::ostream& out) {
    LogOffsets log(config.kafka, config.startup_timeout);
    const auto partitions = chosen_partitions(log, config, arguments);
    const auto ranges = ranges_of(log, partitions);
    postgres::PgConnection conn(pg_settings(config));
    const auto checkpoints = read_checkpoints(conn, partitions);
    std::vector<PartitionStatus> lines;
    for (const auto& tp : partitions) {
        const auto it = checkpoints.find(tp);
        lines.push_back({tp, it == checkpoints.end() ? std::nullopt : std::optional<Checkpoint>(it->second), ranges.at(tp)});
    }
    out << render_status(lines, arguments.format);
    return 0;
}

// ---- reset -----------------------------------------------------------------------------

std::string iso8601(std::int64_t ms) {
    const auto tp = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(ms));
    const auto days = std::chrono::floor<std::chrono::days>(tp);
    const std::chrono::year_month_day date{days};
    const std::chrono::hh_mm_ss time{tp - days};
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02ld:%02ld:%02lld.%03lldZ", int(date.year()), unsigned(date.month()), unsigned(date.day()),
                  long(time.hours().count()), long(time.minutes().count()), static_cast<long long>(time.seconds().count()),
                  static_cast<long long>(time.subseconds().count()));
    return text;
}

/// New next offsets per partition, each with the reason it was chosen. Refuses offset=n outside
/// a partition's [log start, log end], naming every such partition.
std::vector<PartitionMove> plan(LogOffsets& log, const std::map<TopicPartition, LogRange>& ranges, const ResetTarget& to) {
    std::map<TopicPartition, std::int64_t> by_time;
    if (to.kind == ResetTarget::Kind::timestamp) {
        std::vector<TopicPartition> partitions;
        for (const auto& [tp, range] : ranges) partitions.push_back(tp);
        by_time = log.offsets_for_time(partitions, to.value);
    }
    std::vector<PartitionMove> moves;
    std::vector<std::string> outside;
    for (const auto& [tp, range] : ranges) {
        PartitionMove m{tp, std::nullopt, 0, range, std::nullopt, ""};
        switch (to.kind) {
            case ResetTarget::Kind::earliest: m.new_offset = range.log_start, m.basis = "log start"; break;
            case ResetTarget::Kind::latest: m.new_offset = range.log_end, m.basis = "log end"; break;
            case ResetTarget::Kind::offset:
                m.new_offset = to.value, m.basis = "offset " + std::to_string(to.value);
                if (to.value < range.log_start || to.value > range.log_end)
                    outside.push_back(tp.to_string() + " accepts " + std::to_string(range.log_start) + ".." + std::to_string(range.log_end));
                break;
            case ResetTarget::Kind::timestamp: {
                const std::int64_t found = by_time.at(tp);
                const bool none = found == LogOffsets::kNoOffset;  // no record that late: start after the last one
                m.new_offset = none ? range.log_end : found;
                m.basis = none ? "no record at or after " + iso8601(to.value) + ": log end" : "first record at or after " + iso8601(to.value);
                break;
            }
        }
        moves.push_back(std::move(m));
    }
    if (!outside.empty())
        throw Refused("offset " + std::to_string(to.value) + " is outside the log: " + join(outside) +
                      " (log start..log end); nothing changed");
    return moves;
}

int reset(const Config& config, const OffsetsArguments& arguments, std::ostream& out) {
    LogOffsets log(config.kafka, config.startup_timeout);
    const auto partitions = chosen_partitions(log, config, arguments);
    std::vector<PartitionMove> moves = plan(log, ranges_of(log, partitions), arguments.to);
    postgres::PgConnection conn(pg_settings(config));
    if (arguments.dry_run) {
        const auto checkpoints = read_checkpoints(conn, partitions);
        for (auto& m : moves)
            if (auto it = checkpoints.find(m.tp); it != checkpoints.end()) m.old_offset = it->second.next_offset;
    } else {
        std::map<TopicPartition, std::int64_t> targets;
        for (const auto& m : moves) targets[m.tp] = m.new_offset;
        const auto moved = move_checkpoints(conn, targets);
        for (auto& m : moves) {
            const MovedCheckpoint& done = moved.at(m.tp);
            if (done.before) m.old_offset = done.before->next_offset;
            m.epoch = done.epoch;
        }
    }
    out << render_moves(moves, arguments.to, arguments.dry_run, arguments.format);
    return 0;
}

/// libpq's messages span lines ("LINE 1: ...", "Is the server running..."): one line for the operator.
std::string one_line(std::string text) {
    for (auto at = text.find('\n'); at != std::string::npos; at = text.find('\n', at)) {
        std::size_t end = at + 1;
        while (end < text.size() && (text[end] == '\t' || text[end] == ' ')) ++end;
        text.replace(at, end - at, end < text.size() ? " / " : "");
    }
    return text;
}

/// A hint for the Postgres errors an operator can fix.
std::string pg_hint(const postgres::PgError& e) {
    if (e.sqlstate() == "42P01" || e.sqlstate() == "42703" || e.sqlstate() == "3F000")
        return " (is the schema migrated? run `starstreamd migrate` with the same configuration)";
    return "";
}

}  // namespace

int run_offsets(const Config& config, const OffsetsArguments& arguments, std::ostream& out, std::ostream& err) {
    const bool resetting = arguments.action == OffsetsAction::reset;
    const std::string name = resetting ? "starstreamd offsets reset: " : "starstreamd offsets show: ";
    // Kafka is asked before Postgres is touched, so a Kafka failure never leaves a change behind.
    const std::string unchanged = resetting ? "; nothing changed" : "";
    try {
        return arguments.action == OffsetsAction::show ? show(config, arguments, out) : reset(config, arguments, out);
    } catch (const Refused& e) {
        err << name << e.what() << "\n";
        return kExitRefused;
    } catch (const engine::SourceConfigError& e) {
        err << name << "configuration key 'kafka." << e.key() << "': " << e.what() << "\n";
        return kExitRefused;
    } catch (const engine::LogQueryError& e) {
        err << name << "kafka: " << e.what() << unchanged << "\n";
        return kExitUnavailable;
    } catch (const postgres::PgError& e) {
        // A lost COMMIT reply leaves the outcome unknown: then the message must not say "nothing changed".
        const bool unknown = dynamic_cast<const CommitOutcomeUnknown*>(&e) != nullptr;
        err << name << "postgres.dsn (" << redact_dsn(config.postgres_dsn) << "): " << one_line(e.what()) << pg_hint(e)
            << (unknown ? "" : unchanged) << "\n";
        return kExitUnavailable;
    } catch (const std::exception& e) {
        err << name << e.what() << "\n";
        return kExitRuntime;
    }
}

}  // namespace starstream::daemon::tools
