#include "tools/offsets_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <type_traits>

namespace starstream::daemon::tools {

namespace {

using Row = std::vector<std::string>;

/// Left-aligned columns two spaces apart, as kafka-consumer-groups prints them.
std::string table(const Row& header, const std::vector<Row>& rows) {
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) {
        width[c] = header[c].size();
        for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
    }
    std::ostringstream out;
    auto line = [&](const Row& row) {
        std::string text;
        for (std::size_t c = 0; c < row.size(); ++c) {
            text += row[c];
            if (c + 1 < row.size()) text += std::string(width[c] - row[c].size() + 2, ' ');
        }
        out << text << "\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
    return out.str();
}

template <typename T>
std::string or_dash(const std::optional<T>& value) {
    if (!value) return "-";
    if constexpr (std::is_same_v<T, std::string>) return *value;
    else return std::to_string(*value);
}

template <typename T>
nlohmann::json or_null(const std::optional<T>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

std::int64_t PartitionStatus::lag() const {
    if (checkpoint && checkpoint->next_offset) return log.log_end - *checkpoint->next_offset;
    return log.log_end - log.log_start;
}

std::string render_status(const std::vector<PartitionStatus>& lines, OutputFormat format) {
    if (format == OutputFormat::json) {
        nlohmann::json partitions = nlohmann::json::array();
        for (const auto& s : lines) {
            const auto& c = s.checkpoint;
            partitions.push_back({{"topic", s.tp.topic}, {"partition", s.tp.partition},
                                  {"checkpoint", c ? or_null(c->next_offset) : nullptr}, {"log_start", s.log.log_start},
                                  {"log_end", s.log.log_end}, {"lag", s.lag()}, {"owner_instance", c ? or_null(c->owner_instance) : nullptr},
                                  {"epoch", c ? nlohmann::json(c->epoch) : nullptr}, {"updated_at", c ? nlohmann::json(c->updated_at) : nullptr}});
        }
        return nlohmann::json{{"partitions", partitions}}.dump(2) + "\n";
    }
    std::vector<Row> rows;
    for (const auto& s : lines) {
        const auto& c = s.checkpoint;
        rows.push_back({s.tp.topic, std::to_string(s.tp.partition), c ? or_dash(c->next_offset) : "-", std::to_string(s.log.log_start),
                        std::to_string(s.log.log_end), std::to_string(s.lag()), c ? or_dash(c->owner_instance) : "-",
                        c ? std::to_string(c->epoch) : "-", c ? c->updated_at : "-"});
    }
    return table({"TOPIC", "PARTITION", "CHECKPOINT", "LOG-START", "LOG-END", "LAG", "OWNER", "EPOCH", "UPDATED"}, rows);
}

std::string render_moves(const std::vector<PartitionMove>& lines, const ResetTarget& to, bool dry_run, OutputFormat format) {
    if (format == OutputFormat::json) {
        nlohmann::json partitions = nlohmann::json::array();
        for (const auto& m : lines)
            partitions.push_back({{"topic", m.tp.topic}, {"partition", m.tp.partition}, {"old", or_null(m.old_offset)}, {"new", m.new_offset},
                                  {"log_start", m.log.log_start}, {"log_end", m.log.log_end}, {"epoch", or_null(m.epoch)}, {"basis", m.basis}});
        return nlohmann::json{{"to", to.text}, {"dry_run", dry_run}, {"partitions", partitions}}.dump(2) + "\n";
    }
    std::vector<Row> rows;
    for (const auto& m : lines)
        rows.push_back({m.tp.topic, std::to_string(m.tp.partition), or_dash(m.old_offset), std::to_string(m.new_offset),
                        std::to_string(m.log.log_start), std::to_string(m.log.log_end), or_dash(m.epoch), m.basis});
    std::string out = table({"TOPIC", "PARTITION", "OLD", "NEW", "LOG-START", "LOG-END", "EPOCH", "BASIS"}, rows);
    if (dry_run)
        out += "dry run: nothing changed; without --dry-run " + std::to_string(lines.size()) + " checkpoint(s) would move to " + to.text + "\n";
    else
        out += std::to_string(lines.size()) + " checkpoint(s) moved to " + to.text +
               " in one transaction; epochs bumped, so a running owner re-claims these partitions and reads from NEW\n";
    return out;
}

}  // namespace starstream::daemon::tools
