#include "tools/offsets_arguments.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <regex>

namespace starstream::daemon::tools {

namespace {

const char* const kValueFlags[] = {"--to", "--topic", "--partitions", "--format"};
constexpr const char* kDryRun = "--dry-run";

bool is_value_flag(const std::string& name) {
    return std::find(std::begin(kValueFlags), std::end(kValueFlags), name) != std::end(kValueFlags);
}

/// True when the token after `token` is its value rather than a positional argument:
/// "--key value" and "-c value" (Boost.program_options accepts both), not "--key=value",
/// "-cvalue", "--help" or "--dry-run".
bool takes_next_token(const std::string& token) {
    if (token == "-c") return true;
    if (token.rfind("--", 0) != 0 || token.size() == 2) return false;
    if (token.find('=') != std::string::npos) return false;
    return token != "--help" && token != kDryRun;
}

/// Indexes of the positional arguments of argv (from 1).
std::vector<int> positional_indexes(const std::vector<std::string>& args) {
    std::vector<int> out;
    for (int i = 1; i < static_cast<int>(args.size()); ++i) {
        if (!args[i].empty() && args[i][0] == '-') {
            if (takes_next_token(args[i])) ++i;
            continue;
        }
        out.push_back(i);
    }
    return out;
}

std::int64_t parse_integer(const std::string& text, const std::string& what) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        throw ConfigError("", what + ": '" + text + "' is not an integer");
    return value;
}

std::vector<std::int32_t> parse_partitions(const std::string& text) {
    std::vector<std::int32_t> out;
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::int64_t p = parse_integer(text.substr(at, comma - at), "--partitions");
        if (p < 0 || p > INT32_MAX) throw ConfigError("", "--partitions: " + std::to_string(p) + " is not a partition number");
        out.push_back(static_cast<std::int32_t>(p));
        at = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

OffsetsArguments interpret(OffsetsAction action, const std::map<std::string, std::string>& flags) {
    OffsetsArguments a;
    a.action = action;
    const bool reset = action == OffsetsAction::reset;
    for (const auto& [name, value] : flags) {
        if (name == "--format") {
            if (value != "text" && value != "json") throw ConfigError("", "--format must be text or json, got '" + value + "'");
            a.format = value == "json" ? OutputFormat::json : OutputFormat::text;
        } else if (name == "--topic") {
            if (value.empty()) throw ConfigError("", "--topic names no topic");
            a.topic = value;
        } else if (name == "--partitions") {
            a.partitions = parse_partitions(value);
        } else if (name == "--to" || name == kDryRun) {
            if (!reset) throw ConfigError("", name + " belongs to 'offsets reset', not 'offsets show'");
            if (name == kDryRun) a.dry_run = true;
            else a.to = parse_reset_target(value);
        }
    }
    if (reset && !flags.count("--to"))
        throw ConfigError("", "offsets reset needs --to earliest|latest|timestamp=<ISO 8601>|offset=<n>");
    return a;
}

/// Milliseconds since the Unix epoch of an ISO 8601 date and time with a zone (regex groups).
std::int64_t iso8601_to_ms(const std::smatch& m, const std::string& text) {
    using namespace std::chrono;
    auto number = [&](int group) { return m[group].matched ? std::stoi(m[group].str()) : 0; };
    const year_month_day date{year{number(1)}, month{static_cast<unsigned>(number(2))}, day{static_cast<unsigned>(number(3))}};
    if (!date.ok() || number(4) > 23 || number(5) > 59 || number(6) > 59)
        throw ConfigError("", "--to timestamp=" + text + ": no such date or time");
    std::int64_t ms = duration_cast<milliseconds>(sys_days{date}.time_since_epoch()).count() +
                      ((number(4) * 60LL + number(5)) * 60 + number(6)) * 1000;
    if (m[7].matched) {
        std::string fraction = m[7].str();
        const bool below_ms = fraction.size() > 3 && fraction.find_first_not_of('0', 3) != std::string::npos;
        fraction.resize(3, '0');
        ms += std::stoi(fraction) + (below_ms ? 1 : 0);  // round up: records carry whole milliseconds
    }
    const std::string zone = m[8].str();
    if (zone != "Z" && zone != "z") {
        const int minutes = std::stoi(zone.substr(1, 2)) * 60 + (zone.size() > 3 ? std::stoi(zone.substr(zone.size() - 2)) : 0);
        ms -= (zone[0] == '-' ? -1LL : 1LL) * minutes * 60000;
    }
    return ms;
}

}  // namespace

std::vector<const char*> SplitCommandLine::argv() const {
    std::vector<const char*> out;
    for (const auto& a : rest) out.push_back(a.c_str());
    out.push_back(nullptr);
    return out;
}

ResetTarget parse_reset_target(const std::string& text) {
    ResetTarget t;
    t.text = text;
    if (text == "earliest") {
        t.kind = ResetTarget::Kind::earliest;
    } else if (text == "latest") {
        t.kind = ResetTarget::Kind::latest;
    } else if (text.rfind("offset=", 0) == 0) {
        t.kind = ResetTarget::Kind::offset;
        t.value = parse_integer(text.substr(7), "--to offset=<n>");
        if (t.value < 0) throw ConfigError("", "--to offset=<n>: an offset is 0 or more, got " + std::to_string(t.value));
    } else if (text.rfind("timestamp=", 0) == 0) {
        static const std::regex iso(R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)$)");
        const std::string value = text.substr(10);
        std::smatch m;
        if (!std::regex_match(value, m, iso))
            throw ConfigError("", "--to timestamp=" + value + ": expected ISO 8601 with a zone, e.g. 2024-05-01T12:00:00Z or "
                                  "2024-05-01T14:00:00.250+02:00 (a time without zone is ambiguous)");
        t.kind = ResetTarget::Kind::timestamp;
        t.value = iso8601_to_ms(m, value);
    } else {
        throw ConfigError("", "--to must be earliest, latest, timestamp=<ISO 8601> or offset=<n>; got '" + text + "'");
    }
    return t;
}

SplitCommandLine split_offsets_arguments(int argc, const char* const argv[]) {
    SplitCommandLine out;
    out.rest.assign(argv, argv + argc);
    const std::vector<int> positional = positional_indexes(out.rest);
    if (positional.empty() || out.rest[positional[0]] != "offsets") return out;
    if (positional.size() < 2) throw ConfigError("", "offsets needs an action: show or reset (starstreamd --help)");
    const std::string& verb = out.rest[positional[1]];
    if (verb != "show" && verb != "reset") throw ConfigError("", "offsets: unknown action '" + verb + "' (show or reset)");
    const OffsetsAction action = verb == "show" ? OffsetsAction::show : OffsetsAction::reset;

    std::vector<std::string> rest;
    std::map<std::string, std::string> flags;
    for (int i = 0; i < argc; ++i) {
        const std::string& token = out.rest[i];
        if (i == positional[1]) continue;
        const std::string name = token.substr(0, token.find('='));
        if (!is_value_flag(name) && token != kDryRun) {
            rest.push_back(token);
            if (i > 0 && takes_next_token(token) && i + 1 < argc) rest.push_back(out.rest[++i]);
            continue;
        }
        if (flags.count(name)) throw ConfigError("", name + " is given twice");
        if (token == kDryRun) {
            flags[name] = "";
        } else if (token.size() > name.size()) {
            flags[name] = token.substr(name.size() + 1);
        } else {
            if (i + 1 >= argc) throw ConfigError("", name + " needs a value");
            flags[name] = out.rest[++i];
        }
    }
    out.offsets = interpret(action, flags);
    out.rest = std::move(rest);
    return out;
}

std::string offsets_usage() {
    return "Offsets (positions live in starstream.progress; Kafka is only asked, never joined):\n"
           "  starstreamd offsets show  [--topic T] [--partitions 0,3] [--format text|json] --config FILE\n"
           "      per partition: checkpoint, log start, log end, lag, owner instance, epoch, last update\n"
           "  starstreamd offsets reset --to earliest|latest|timestamp=<ISO 8601>|offset=<n>\n"
           "                            [--topic T] [--partitions 0,3] [--dry-run] [--format text|json] --config FILE\n"
           "      moves checkpoints in one transaction and bumps their epochs (a running owner re-claims and re-reads);\n"
           "      exit 2 for an unknown topic or partition or an offset outside the log, 3 when Postgres or Kafka is unreachable\n";
}

}  // namespace starstream::daemon::tools
