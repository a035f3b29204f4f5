#include "commerce_row.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <ctime>

namespace starstream::bench {

namespace {

std::string utc(std::int64_t epoch, const char* format) {
    std::time_t t = epoch;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[40];
    std::strftime(text, sizeof text, format, &tm);
    return text;
}

void append_csv_field(std::string& out, const std::string& field) {
    if (field.find_first_of(",\"\n") == std::string::npos) {
        out += field;
        return;
    }
    out += '"';
    for (char c : field) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

/// True when `text` is a JSON number of the form -?digits(.digits)?, such as "31.90" or "-5.00".
bool is_decimal(const std::string& text) {
    std::size_t i = text.empty() || text[0] != '-' ? 0 : 1;
    const std::size_t integer_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == integer_start || (text[integer_start] == '0' && i - integer_start > 1)) return false;
    if (i == text.size()) return true;
    if (text[i++] != '.') return false;
    const std::size_t fraction_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    return i > fraction_start && i == text.size();
}

/// `"name":value,` with the value a JSON string.
void append_string(std::string& out, const char* name, const std::string& value) {
    out += '"';
    out += name;
    out += "\":";
    out += nlohmann::json(value).dump();
    out += ',';
}

}  // namespace

const char* commerce_csv_header() {
    return "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session";
}

std::string to_csv(const CommerceRow& row) {
    std::string line = row.has_time ? utc(row.epoch, "%Y-%m-%d %H:%M:%S UTC") : "";
    for (const std::string* field : {&row.event_type, &row.product_id, &row.category_id, &row.category_code, &row.brand,
                                     &row.price, &row.user_id, &row.user_session}) {
        line += ',';
        append_csv_field(line, *field);
    }
    return line;
}

std::string to_json(const CommerceRow& row, const std::string& event_id) {
    std::string out = "{";
    append_string(out, "event_id", event_id);
    if (row.has_time) append_string(out, "timestamp", utc(row.epoch, "%Y-%m-%dT%H:%M:%SZ"));
    append_string(out, "event_type", row.event_type);
    if (!row.user_id.empty()) append_string(out, "user_id", row.user_id);
    if (!row.user_session.empty()) append_string(out, "user_session", row.user_session);
    out += "\"product\":{";
    if (!row.product_id.empty()) append_string(out, "id", row.product_id);
    append_string(out, "category_id", row.category_id);
    append_string(out, "category_code", row.category_code);
    append_string(out, "brand", row.brand);
    // The price's own text as the number: through a double, "31.90" would print as 31.9.
    out += "\"price\":";
    out += is_decimal(row.price) ? row.price : nlohmann::json(row.price).dump();
    out += "}}";
    return out;
}

}  // namespace starstream::bench
