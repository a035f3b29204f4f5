// User-Agent header -> browser, OS and device, by the ua-parser rules of the uap-core package
// (/usr/share/uap-core/regexes.yaml; semantics: uap-core's specification.md, "ua-parser
// Specification" version 0.2). Each of the three rule lists is tried in order; the first rule
// that matches (unanchored) decides, and its `*_replacement` strings may refer to the match's
// groups as $1..$9.
//
// Regex engine: RE2 (libre2), linear time and no backtracking, which matters for a daemon that
// runs untrusted headers through about 1,200 patterns. RE2 compiles all 1,162 rules of the
// bookworm package (2022-08). A newer file may bring a pattern RE2 rejects (look-around,
// back-references): that rule is skipped with a warning naming it, headers fall through to the
// rules after it, and rules().skipped counts them; one odd rule does not stop the daemon.
//
// Thread rules: parse() is const and thread-safe (RE2 is); build once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::enrichment {

/// A parsed User-Agent. Absent parts are empty strings (uap-core's null).
struct UserAgent {
    std::string browser_family = "Other", browser_major, browser_minor, browser_patch;
    std::string os_family = "Other", os_major, os_minor, os_patch, os_patch_minor;
    std::string device_family = "Other", device_brand, device_model;
    std::string device_type;  ///< "desktop", "mobile", "tablet", "bot" or "other" (see derive_device_type)
    bool is_bot = false;

    /// "major.minor.patch" with the parts present ("" when there is no major version).
    std::string browser_version() const;
    std::string os_version() const;
};

class UserAgentParser {
public:
    /// Loads and compiles the rules of a uap-core regexes.yaml. Throws std::runtime_error naming
    /// the file when it cannot be read or parsed, or a pattern that no engine can compile.
    explicit UserAgentParser(const std::string& regexes_path);
    ~UserAgentParser();
    UserAgentParser(UserAgentParser&&) noexcept;

    /// Parses one header. Cost: up to one regex search per rule (about 1,000), so callers cache
    /// by header (StarBatchBuilder does).
    UserAgent parse(std::string_view user_agent) const;

    struct RuleCounts {
        std::size_t user_agent = 0, os = 0, device = 0;  ///< rules loaded per list
        std::vector<std::string> skipped;                ///< "list #index: RE2 error" of rules RE2 rejected
    };
    RuleCounts rules() const;

private:
    struct Rules;
    std::unique_ptr<Rules> rules_;
};

/// desktop, mobile, tablet, bot or other, from the parse and the raw header. uap-core has no
/// device type: bots are its device family "Spider"; tablets are iPads, Kindles and Android
/// devices whose header lacks the "Mobile" token (Google's guidance to Android tablet makers);
/// mobile is a phone OS or a "Mobi" token; desktop is a desktop OS; anything else is "other".
std::string derive_device_type(const UserAgent& parsed, std::string_view user_agent);

}  // namespace starstream::daemon::enrichment
