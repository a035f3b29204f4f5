#include "enrichment/user_agent_parser.h"

#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <stdexcept>

namespace starstream::daemon::enrichment {

namespace {

constexpr int kMaxGroups = 9;  // $1..$9 (specification)

/// One rule: a compiled pattern and, per output field, an optional replacement template.
struct Rule {
    std::unique_ptr<RE2> pattern;
    std::vector<std::optional<std::string>> replacements;
};

/// What a field takes when its rule has no replacement: a group number, or 0 for nothing.
using DefaultGroups = std::vector<int>;

using Groups = std::array<re2::StringPiece, kMaxGroups + 1>;

std::string trim(std::string s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

/// A replacement template with $1..$9 replaced by the groups (an unmatched group is ""), trimmed.
std::string substitute(const std::string& replacement, const Groups& groups, int group_count) {
    std::string out;
    for (std::size_t i = 0; i < replacement.size(); ++i) {
        const char c = replacement[i];
        if (c == '$' && i + 1 < replacement.size() && replacement[i + 1] >= '1' && replacement[i + 1] <= '9') {
            const int n = replacement[++i] - '0';
            if (n <= group_count && groups[static_cast<std::size_t>(n)].data()) out.append(groups[static_cast<std::size_t>(n)].data(), groups[static_cast<std::size_t>(n)].size());
        } else {
            out.push_back(c);
        }
    }
    return trim(std::move(out));
}

std::vector<Rule> load_list(const YAML::Node& root, const char* list, const std::vector<std::string>& fields, std::vector<std::string>& skipped) {
    const YAML::Node rules = root[list];
    if (!rules || !rules.IsSequence()) throw std::runtime_error(std::string("no '") + list + "' list");
    std::vector<Rule> out;
    std::size_t index = 0;
    for (const auto& node : rules) {
        RE2::Options options;
        options.set_log_errors(false);
        if (node["regex_flag"] && node["regex_flag"].as<std::string>() == "i") options.set_case_sensitive(false);
        auto pattern = std::make_unique<RE2>(node["regex"].as<std::string>(), options);
        if (!pattern->ok()) {
            skipped.push_back(std::string(list) + " #" + std::to_string(index) + ": " + pattern->error());
            spdlog::warn("user agent rules: skipping {} rule #{} that RE2 cannot compile ({}): {}", list, index, pattern->error(), pattern->pattern());
        } else {
            Rule rule{std::move(pattern), {}};
            for (const auto& field : fields) {
                if (node[field] && !node[field].IsNull()) rule.replacements.emplace_back(node[field].as<std::string>());
                else rule.replacements.emplace_back();
            }
            out.push_back(std::move(rule));
        }
        ++index;
    }
    return out;
}

/// Runs a rule list: the first rule that matches fills `out` (one string per field); returns
/// false when none matches. A capture-free search (RE2's DFA) tests each rule; only the winner
/// is searched again for its groups.
bool apply(const std::vector<Rule>& rules, const DefaultGroups& defaults, std::string_view text, std::vector<std::string>& out) {
    const re2::StringPiece input(text.data(), text.size());
    for (const auto& rule : rules) {
        if (!rule.pattern->Match(input, 0, input.size(), RE2::UNANCHORED, nullptr, 0)) continue;
        Groups groups{};
        const int group_count = std::min(rule.pattern->NumberOfCapturingGroups(), kMaxGroups);
        rule.pattern->Match(input, 0, input.size(), RE2::UNANCHORED, groups.data(), group_count + 1);
        out.assign(defaults.size(), std::string{});
        for (std::size_t field = 0; field < defaults.size(); ++field) {
            if (rule.replacements[field]) {
                out[field] = substitute(*rule.replacements[field], groups, group_count);
            } else if (const int g = defaults[field]; g > 0 && g <= group_count && groups[static_cast<std::size_t>(g)].data()) {
                out[field] = std::string(groups[static_cast<std::size_t>(g)].data(), groups[static_cast<std::size_t>(g)].size());
            }
        }
        return true;
    }
    return false;
}

std::string join_version(std::initializer_list<const std::string*> parts) {
    std::string version;
    for (const std::string* part : parts) {
        if (part->empty()) break;
        if (!version.empty()) version += '.';
        version += *part;
    }
    return version;
}

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

}  // namespace

struct UserAgentParser::Rules {
    std::vector<Rule> user_agent, os, device;
    std::vector<std::string> skipped;
};

UserAgentParser::UserAgentParser(const std::string& regexes_path) : rules_(std::make_unique<Rules>()) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(regexes_path);
        rules_->user_agent = load_list(root, "user_agent_parsers", {"family_replacement", "v1_replacement", "v2_replacement", "v3_replacement"}, rules_->skipped);
        rules_->os = load_list(root, "os_parsers", {"os_replacement", "os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"}, rules_->skipped);
        rules_->device = load_list(root, "device_parsers", {"device_replacement", "brand_replacement", "model_replacement"}, rules_->skipped);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot load user agent rules from '" + regexes_path + "' (package uap-core): " + e.what());
    }
}

UserAgentParser::~UserAgentParser() = default;
UserAgentParser::UserAgentParser(UserAgentParser&&) noexcept = default;

UserAgentParser::RuleCounts UserAgentParser::rules() const {
    return {rules_->user_agent.size(), rules_->os.size(), rules_->device.size(), rules_->skipped};
}

UserAgent UserAgentParser::parse(std::string_view header) const {
    UserAgent ua;
    std::vector<std::string> f;
    // Field defaults by group (specification): browser and OS take their groups in order; a
    // device's family and model both default to group 1, its brand to nothing.
    if (apply(rules_->user_agent, {1, 2, 3, 4}, header, f)) {
        if (!f[0].empty()) ua.browser_family = f[0];
        ua.browser_major = f[1], ua.browser_minor = f[2], ua.browser_patch = f[3];
    }
    if (apply(rules_->os, {1, 2, 3, 4, 5}, header, f)) {
        if (!f[0].empty()) ua.os_family = f[0];
        ua.os_major = f[1], ua.os_minor = f[2], ua.os_patch = f[3], ua.os_patch_minor = f[4];
    }
    if (apply(rules_->device, {1, 0, 1}, header, f)) {
        if (!f[0].empty()) ua.device_family = f[0];
        ua.device_brand = f[1], ua.device_model = f[2];
    }
    ua.is_bot = ua.device_family == "Spider";
    ua.device_type = derive_device_type(ua, header);
    return ua;
}

std::string UserAgent::browser_version() const { return join_version({&browser_major, &browser_minor, &browser_patch}); }
std::string UserAgent::os_version() const { return join_version({&os_major, &os_minor, &os_patch, &os_patch_minor}); }

std::string derive_device_type(const UserAgent& ua, std::string_view header) {
    if (ua.is_bot) return "bot";
    const std::string& os = ua.os_family;
    if (contains(ua.device_family, "iPad") || contains(ua.device_family, "Kindle") || contains(header, "Tablet") ||
        contains(header, "iPad") || (os == "Android" && !contains(header, "Mobile")))
        return "tablet";
    static const std::array<std::string_view, 11> phone_os = {"Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS",
                                                             "Firefox OS", "Tizen", "Sailfish", "webOS", "Windows Mobile"};
    for (auto name : phone_os)
        if (os == name) return "mobile";
    if (contains(header, "Mobi")) return "mobile";
    static const std::array<std::string_view, 10> desktop_os = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora",
                                                               "FreeBSD", "Debian", "OpenBSD", "macOS"};
    for (auto name : desktop_os)
        if (os == name || os.starts_with(std::string(name) + " ")) return "desktop";
    return "other";
}

}  // namespace starstream::daemon::enrichment
