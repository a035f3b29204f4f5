#include "spec/value_text.h"

#include <fmt/format.h>

#include <cstdio>
#include <iterator>
#include <ctime>

namespace starstream::daemon::spec {

std::optional<std::string> input_text(const FieldValue& v, const std::string& type) {
    std::string buffer;
    const auto view = input_view(v, type, buffer);
    if (!view) return std::nullopt;
    return std::string(*view);
}

std::optional<std::string_view> input_view(const FieldValue& v, const std::string& type, std::string& buffer) {
    if (std::holds_alternative<std::monostate>(v)) return std::nullopt;
    if (const auto* s = std::get_if<Text>(&v)) return s->view();
    if (const auto* b = std::get_if<bool>(&v)) return std::string_view(*b ? "t" : "f");
    buffer.clear();
    if (const auto* d = std::get_if<double>(&v)) return fmt::format_to(std::back_inserter(buffer), "{:.17g}", *d), std::string_view(buffer);
    const std::int64_t i = std::get<std::int64_t>(v);
    if (type != "timestamp with time zone") return fmt::format_to(std::back_inserter(buffer), "{}", i), std::string_view(buffer);
    // Floor division: times before 1970 have negative microseconds.
    std::int64_t seconds = i / 1000000, micros = i % 1000000;
    if (micros < 0) micros += 1000000, --seconds;
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, static_cast<long long>(micros));
    return std::string_view(buffer = buf);
}

std::string joined_key(const std::vector<std::string>& parts) {
    if (parts.size() == 1) return parts[0];
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += '|';
        for (char c : parts[i]) {
            if (c == '|' || c == '\\') out += '\\';
            out += c;
        }
    }
    return out;
}

}  // namespace starstream::daemon::spec
