#include "spec/content_id.h"

#include <xxhash.h>

#include <charconv>
#include <cstdlib>

namespace starstream::daemon::spec::content_id {

void uuid_of(const std::vector<std::string_view>& texts, std::string& out) {
    thread_local std::string bytes;  // its buffer is reused from event to event
    bytes.clear();
    for (std::string_view text : texts) {
        bytes += std::to_string(text.size());
        bytes += ':';
        bytes += text;
        bytes += ',';
    }
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(bytes.data(), bytes.size()));
    unsigned char* b = canonical.digest;
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x80);  // version 8: custom
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10: RFC 9562
    static const char hex[] = "0123456789abcdef";
    out.clear();
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += hex[b[i] >> 4];
        out += hex[b[i] & 0x0f];
    }
}

std::string canonical_decimal(std::string_view text) {
    std::size_t at = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) at = 1;
    std::string digits;
    long point = -1;  // digits before the decimal point
    for (; at < text.size() && text[at] != 'e' && text[at] != 'E'; ++at) {
        if (text[at] == '.') point = long(digits.size());
        else digits += text[at];
    }
    if (point < 0) point = long(digits.size());
    if (at < text.size()) point += std::strtol(std::string(text.substr(at + 1)).c_str(), nullptr, 10);
    const std::size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos) return "0";
    digits.erase(digits.find_last_not_of('0') + 1);
    digits.erase(0, first);
    point -= long(first);
    std::string out = negative ? "-" : "";
    const long n = long(digits.size());
    if (point <= 0) out += "0." + std::string(std::size_t(-point), '0') + digits;
    else if (point >= n) out += digits + std::string(std::size_t(point - n), '0');
    else out += digits.substr(0, std::size_t(point)) + "." + digits.substr(std::size_t(point));
    return out;
}

std::string json_number_decimal(double value) {
    // The longest plain form of a finite double: "-" and 309 integer digits (DBL_MAX), or
    // "-0." and 324 fraction digits (the least subnormal, 5e-324): 400 bytes hold either.
    char buffer[400];
    return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed).ptr);
}

}  // namespace starstream::daemon::spec::content_id
