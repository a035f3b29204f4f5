// Conformance of our ua-parser implementation with the official uap-core test cases shipped in
// the uap-core package (tests/test_ua.yaml, test_os.yaml, test_device.yaml). Issue 3 asks for at
// least 99 % per file; the exact rates and the failing cases are printed for the closing note.
#include "enrichment/user_agent_parser.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <iostream>

namespace starstream::daemon::enrichment {
namespace {

constexpr const char* kRegexes = "/usr/share/uap-core/regexes.yaml";
constexpr const char* kTests = "/usr/share/uap-core/tests/";

const UserAgentParser& parser() {
    static const UserAgentParser instance(kRegexes);
    return instance;
}

/// The expected value of a field: uap-core writes null as ~ or an empty string.
std::string expected(const YAML::Node& test_case, const char* field) {
    const YAML::Node v = test_case[field];
    return !v || v.IsNull() ? "" : v.as<std::string>();
}

using Actual = std::function<std::vector<std::string>(const UserAgent&)>;

/// Runs one conformance file; returns the share of cases whose every field matches.
double pass_rate(const std::string& file, const std::vector<const char*>& fields, const Actual& actual) {
    const YAML::Node cases = YAML::LoadFile(std::string(kTests) + file)["test_cases"];
    std::size_t passed = 0, total = 0, shown = 0;
    for (const auto& c : cases) {
        ++total;
        const std::string header = c["user_agent_string"].as<std::string>();
        const std::vector<std::string> got = actual(parser().parse(header));
        bool ok = true;
        std::string diff;
        for (std::size_t i = 0; i < fields.size(); ++i) {
            const std::string want = expected(c, fields[i]);
            if (got[i] != want) ok = false, diff += std::string(" ") + fields[i] + "='" + got[i] + "' want '" + want + "'";
        }
        if (ok) ++passed;
        else if (shown++ < 15) std::cout << "  " << file << " FAIL " << header << "\n   " << diff << "\n";
    }
    const double rate = double(passed) / double(total);
    std::cout << file << ": " << passed << " of " << total << " cases pass (" << rate * 100 << " %)\n";
    return rate;
}

TEST(UserAgentConformance, BrowserCases) {
    EXPECT_GE(pass_rate("test_ua.yaml", {"family", "major", "minor", "patch"},
                        [](const UserAgent& u) { return std::vector<std::string>{u.browser_family, u.browser_major, u.browser_minor, u.browser_patch}; }),
              0.99);
}

TEST(UserAgentConformance, OsCases) {
    EXPECT_GE(pass_rate("test_os.yaml", {"family", "major", "minor", "patch", "patch_minor"},
                        [](const UserAgent& u) { return std::vector<std::string>{u.os_family, u.os_major, u.os_minor, u.os_patch, u.os_patch_minor}; }),
              0.99);
}

TEST(UserAgentConformance, DeviceCases) {
    EXPECT_GE(pass_rate("test_device.yaml", {"family", "brand", "model"},
                        [](const UserAgent& u) { return std::vector<std::string>{u.device_family, u.device_brand, u.device_model}; }),
              0.99);
}

TEST(UserAgentConformance, EveryPackagedRuleCompiles) {
    const auto counts = parser().rules();
    EXPECT_GT(counts.user_agent, 100u);
    EXPECT_GT(counts.os, 100u);
    EXPECT_GT(counts.device, 100u);
    EXPECT_TRUE(counts.skipped.empty()) << counts.skipped.front();
}

TEST(UserAgentDeviceType, DerivedFromParseAndHeader) {
    auto type = [](const char* header) { return parser().parse(header).device_type; };
    EXPECT_EQ(type("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36"), "desktop");
    EXPECT_EQ(type("Mozilla/5.0 (iPhone; CPU iPhone OS 13_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1 Mobile/15E148 Safari/604.1"), "mobile");
    EXPECT_EQ(type("Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36"), "mobile");
    EXPECT_EQ(type("Mozilla/5.0 (Linux; Android 9; SM-T820) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36"), "tablet");
    EXPECT_EQ(type("Mozilla/5.0 (iPad; CPU OS 13_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1 Mobile/15E148 Safari/604.1"), "tablet");
    const UserAgent bot = parser().parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    EXPECT_TRUE(bot.is_bot);
    EXPECT_EQ(bot.device_type, "bot");
    EXPECT_EQ(type("curl/7.88.1"), "other");
}

TEST(UserAgentParser, VersionsJoinThePartsPresent) {
    const UserAgent ua = parser().parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36");
    EXPECT_EQ(ua.browser_family, "Chrome");
    EXPECT_EQ(ua.browser_version(), "81.0.4044");
    EXPECT_EQ(ua.os_family, "Windows");
    EXPECT_EQ(ua.os_version(), "10");
    EXPECT_EQ(parser().parse("").browser_family, "Other");
}

TEST(UserAgentParser, MissingFileIsAClearError) {
    try {
        UserAgentParser p("/nonexistent/regexes.yaml");
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/regexes.yaml"), std::string::npos);
    }
}

}  // namespace
}  // namespace starstream::daemon::enrichment
