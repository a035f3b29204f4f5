#include "event_encoding.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace starstream::bench::loader {

namespace {

/// `value` as a JSON string.
void append_string(std::string& out, const std::string& value) {
    const bool plain = std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
    if (!plain) {
        out += nlohmann::json(value).dump();
        return;
    }
    out += '"';
    out += value;
    out += '"';
}

/// `value` as a JSON string, or null when it is empty.
void append_string_or_null(std::string& out, const std::string& value) {
    if (value.empty()) out += "null";
    else append_string(out, value);
}

}  // namespace

std::string_view EventEncoder::encode(const CommerceEvent& event, const std::string& id) {
    const CommerceRow& r = *event.row;
    out_.clear();
    out_ += "{\"event_id\":";
    append_string(out_, id);
    out_ += ",\"timestamp\":";
    append_string(out_, format_iso8601(event.epoch_us));
    out_ += ",\"event_type\":";
    append_string(out_, r.event_type);
    out_ += ",\"user_id\":";
    append_string(out_, r.user_id);
    out_ += ",\"user_session\":";
    append_string(out_, r.user_session);
    out_ += ",\"product\":{\"id\":";
    append_string(out_, r.product_id);
    out_ += ",\"category_id\":";
    append_string_or_null(out_, r.category_id);
    out_ += ",\"category_code\":";
    append_string_or_null(out_, r.category_code);
    out_ += ",\"brand\":";
    append_string_or_null(out_, r.brand);
    out_ += ",\"price\":";
    out_ += event.price.empty() ? "null" : event.price;  // a canonical decimal is a JSON number as it is
    out_ += "}}";
    return out_;
}

}  // namespace starstream::bench::loader
