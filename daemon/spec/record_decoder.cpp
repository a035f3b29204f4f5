#include "spec/record_decoder.h"

#include "enrichment/geo_locator.h"
#include "spec/content_id.h"
#include "spec/uuid_text.h"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace starstream::daemon::spec {

namespace {

using Microseconds = std::chrono::duration<std::int64_t, std::micro>;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Microseconds>;

std::string format_number(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

/// A decimal PostgreSQL's numeric takes and a double can compare with a range: at most 1,000
/// digits and an exponent within +-1,000 (numeric itself stops at 131,072 digits before the
/// point and 16,383 after; beyond them a COPY would fail and wedge the batch).
bool is_decimal(std::string_view text) {
    static const RE2 decimal(R"([+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?)");
    std::string whole, fraction, exponent;
    if (!RE2::FullMatch(text, decimal, &whole, &fraction, &exponent) || whole.size() + fraction.size() == 0) return false;
    return whole.size() + fraction.size() <= 1000 && (exponent.empty() || std::abs(std::stoi(exponent)) <= 1000);
}

bool is_uuid(std::string_view text) {
    std::array<std::uint8_t, 16> bytes;
    return parse_uuid(text, bytes);
}

bool is_inet(std::string_view text) {
    std::array<std::uint8_t, 16> address;
    return enrichment::parse_ip(text, address.data()) != 0;
}

/// Times a record may carry: years 0001 to 9999 (PostgreSQL's timestamptz goes further, but the
/// calendar's date keys and the star schema's smallint years do not).
constexpr std::int64_t kMinTimeUs = -62135596800LL * 1'000'000;  // 0001-01-01T00:00:00Z
constexpr std::int64_t kMaxTimeUs = 253402300799LL * 1'000'000;  // 9999-12-31T23:59:59Z

bool within_years(std::int64_t us) { return us >= kMinTimeUs && us <= kMaxTimeUs; }

/// Epoch seconds, milliseconds or microseconds -> microseconds, saturated at the int64 range
/// (JSON has no NaN or infinity, and simdjson refuses numbers no double holds).
std::int64_t epoch_us(double value, TimestampEncoding::Kind unit) {
    const double scale = unit == TimestampEncoding::Kind::epoch_s ? 1e6 : unit == TimestampEncoding::Kind::epoch_ms ? 1e3 : 1.0;
    const double us = std::round(value * scale);
    constexpr double kTwoToThe63 = 9223372036854775808.0;
    if (us >= kTwoToThe63) return std::numeric_limits<std::int64_t>::max();
    if (us < -kTwoToThe63) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(us);
}

bool contains_nul(simdjson::dom::element value) {
    std::string_view text;
    simdjson::dom::array array;
    simdjson::dom::object object;
    if (!value.get_string().get(text)) return text.find('\0') != std::string_view::npos;
    if (!value.get_array().get(array)) {
        for (simdjson::dom::element item : array)
            if (contains_nul(item)) return true;
        return false;
    }
    if (!value.get_object().get(object)) {
        for (const auto field : object)
            if (field.key.find('\0') != std::string_view::npos || contains_nul(field.value)) return true;
    }
    return false;
}

/// ISO 8601 date and time with an optional fraction and offset (none: UTC); nullopt if not one.
std::optional<std::int64_t> iso8601_us(const std::string& text) {
    static const RE2 iso(R"((\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(Z|[+-]\d{2}:?\d{2})?)");
    std::string day, time, offset;
    if (!RE2::FullMatch(text, iso, &day, &time, &offset)) return std::nullopt;
    std::istringstream in(day + "T" + time);
    TimePoint t;
    in >> date::parse("%FT%T", t);
    if (in.fail()) return std::nullopt;
    std::int64_t us = t.time_since_epoch().count();
    if (!offset.empty() && offset != "Z") {
        const int sign = offset[0] == '-' ? -1 : 1;
        const std::string digits = offset.substr(1);
        const int hours = std::stoi(digits.substr(0, 2)), minutes = std::stoi(digits.substr(digits.size() - 2));
        if (hours > 23 || minutes > 59) return std::nullopt;
        us -= sign * (hours * 3600LL + minutes * 60LL) * 1'000'000;  // local time minus its offset = UTC
    }
    return us;
}

std::optional<std::int64_t> formatted_us(const std::string& text, const std::string& format) {
    std::istringstream in(text);
    TimePoint t;
    std::chrono::minutes offset{0};
    in >> date::parse(format, t, offset);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
    // date::parse reads %z's digits unchecked ("+9999": 100 h 39 min), as the iso8601 path does not.
    if (std::chrono::abs(offset) >= std::chrono::hours(24)) return std::nullopt;
    return t.time_since_epoch().count();
}

/// A typed value as content_id.h hashes it, into `out` (replaced; reused per record).
void content_text(const FieldSpec& f, const FieldValue& value, std::string& out) {
    out.clear();
    if (const auto* text = std::get_if<Text>(&value)) {
        if (f.type == FieldType::numeric) out = content_id::canonical_decimal(text->view());
        else out = text->view();
    } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
        out = std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&value)) {
        char buffer[32];
        out.assign(buffer, std::to_chars(buffer, buffer + sizeof buffer, *d).ptr);  // shortest round trip
    } else if (const auto* b = std::get_if<bool>(&value)) {
        out = *b ? "true" : "false";
    }
}

}  // namespace

Text RecordDecoder::content_id(std::size_t field, const std::vector<FieldValue>& values, TextArena& arena) {
    const auto& inputs = fields_[field].hash_of;
    content_texts_.resize(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) content_text(fields_[inputs[i]], values[inputs[i]], content_texts_[i]);
    content_id::uuid_of(std::vector<std::string_view>(content_texts_.begin(), content_texts_.end()), content_uuid_);
    return arena.store(content_uuid_);
}

namespace {

/// The key a one-level JSON pointer ("/a~1b" -> "a/b") names; nullopt for a deeper pointer.
std::optional<std::string> top_level_key(const std::string& pointer) {
    if (pointer.empty() || pointer[0] != '/' || pointer.find('/', 1) != std::string::npos) return std::nullopt;
    std::string key;
    for (std::size_t i = 1; i < pointer.size(); ++i) {
        if (pointer[i] == '~' && i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
            key += pointer[++i] == '1' ? '/' : '~';
            continue;
        }
        key += pointer[i];
    }
    return key;
}

}  // namespace

RecordDecoder::RecordDecoder(const PipelineSpec& spec, std::size_t max_bytes) : fields_(spec.fields), max_bytes_(max_bytes) {
    auto index = [&](const std::string& pointer) {
        const auto key = top_level_key(pointer);
        if (!key || slot_of_pointer_.count(pointer)) return;
        const std::size_t slot = slot_of_key_.try_emplace(*key, slot_of_key_.size()).first->second;
        slot_of_pointer_.emplace(pointer, slot);
    };
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        patterns_.push_back(fields_[i].pattern.empty() ? nullptr : std::make_unique<RE2>(fields_[i].pattern));
        if (fields_[i].name == spec.event.time) event_time_field_ = i;
        index(fields_[i].pointer), index(fields_[i].only_with);
        for (const auto& source : fields_[i].sources) {
            index(source.pointer);
            for (const auto& condition : source.conditions) index(condition.first);
        }
    }
    slots_.resize(slot_of_key_.size());
}

RecordDecoder::~RecordDecoder() = default;

std::string RecordDecoder::decode(std::string_view payload, DecodedRecord& out) {
    if (payload.size() > max_bytes_) return "oversized: more than source.max_event_bytes (" + std::to_string(max_bytes_) + ")";
    simdjson::dom::element root;
    // realloc_if_needed copies into a padded buffer: Kafka's payload has no SIMDJSON_PADDING.
    if (auto error = parser_.parse(payload.data(), payload.size(), true).get(root)) {
        if (error == simdjson::UTF8_ERROR) return "invalid UTF-8";
        return std::string("invalid JSON: ") + simdjson::error_message(error);
    }
    if (!root.is_object()) return "not a JSON object";
    found_.assign(slots_.size(), false);
    for (const auto [key, value] : simdjson::dom::object(root)) {
        const auto slot = slot_of_key_.find(key);
        if (slot == slot_of_key_.end() || found_[slot->second]) continue;  // a key given twice: the first one counts
        slots_[slot->second] = value, found_[slot->second] = true;
    }
    out.values.assign(fields_.size(), std::monostate{});
    out.event_time_text.clear();
    out.text.clear();
    TextArena& arena = out.text;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        const FieldSpec& f = fields_[i];
        if (!f.hash_of.empty()) {  // the inputs come before it (spec_reader)
            out.values[i] = content_id(i, out.values, arena);
            continue;
        }
        simdjson::dom::element value;
        bool found = false;
        if (f.sources.empty()) {
            if (auto reason = find(root, f.name, f.pointer, value, found); !reason.empty()) return reason;
        }
        for (std::size_t s = 0; !found && s < f.sources.size(); ++s) {
            if (!holds(root, f.sources[s])) continue;
            if (auto reason = find(root, f.name, f.sources[s].pointer, value, found); !reason.empty()) return reason;
        }
        if (found && !f.only_with.empty()) {
            simdjson::dom::element companion;
            if (auto reason = find(root, f.name, f.only_with, companion, found); !reason.empty()) return reason;
        }
        if (found) {
            if (i == event_time_field_) out.event_time_text = simdjson::minify(value);
            if (auto reason = convert(i, value, arena, out.values[i]); !reason.empty()) {
                // invalid: no_value forgives a string the type cannot read, not another JSON type or a NUL.
                if (!f.invalid_is_no_value || !value.is_string() || reason.rfind("wrong ", 0) != 0) return reason;
                out.values[i] = std::monostate{};
            }
        }
        // The spec's own constants are stored too: every Text is an arena's (text_arena.h).
        if (f.default_value && std::holds_alternative<std::monostate>(out.values[i])) out.values[i] = arena.store(*f.default_value);
        if (f.required && std::holds_alternative<std::monostate>(out.values[i])) return "missing field: " + f.name;
        if (auto reason = check_rules(i, out.values[i]); !reason.empty()) return reason;
        if (!f.value_map.empty() && !std::holds_alternative<std::monostate>(out.values[i])) {
            const auto to = f.value_map.find(std::get<Text>(out.values[i]).view());
            if (to == f.value_map.end() && f.required) return "not allowed: " + f.name + " is not one of the values its map lists";
            out.values[i] = to == f.value_map.end() ? FieldValue{} : FieldValue{arena.store(to->second)};
        }
    }
    return "";
}

std::string RecordDecoder::find(simdjson::dom::element root, const std::string& field, const std::string& pointer, simdjson::dom::element& value,
                                bool& found) const {
    const auto error = at(root, pointer).get(value);
    // The spec's pointers are valid (spec_reader), so INVALID_JSON_POINTER here means a parent
    // on the path is null or a scalar: like a missing parent, nothing is there.
    const bool absent = error == simdjson::NO_SUCH_FIELD || error == simdjson::INDEX_OUT_OF_BOUNDS || error == simdjson::INCORRECT_TYPE ||
                        error == simdjson::INVALID_JSON_POINTER || (!error && value.is_null());
    if (error && !absent) return "invalid field: " + field + " (" + simdjson::error_message(error) + ")";
    std::string_view text;
    // An empty string is no value, whatever the field's type (as the compiled product_view reads "").
    found = !absent && !(value.is_string() && !value.get_string().get(text) && text.empty());
    return "";
}

simdjson::simdjson_result<simdjson::dom::element> RecordDecoder::at(simdjson::dom::element root, const std::string& pointer) const {
    const auto slot = slot_of_pointer_.find(pointer);
    if (slot == slot_of_pointer_.end()) return root.at_pointer(pointer);
    if (!found_[slot->second]) return simdjson::NO_SUCH_FIELD;
    return simdjson::dom::element(slots_[slot->second]);
}

bool RecordDecoder::holds(simdjson::dom::element root, const FieldSource& source) const {
    for (const auto& [pointer, values] : source.conditions) {
        std::string_view text;
        simdjson::dom::element element;
        if (at(root, pointer).get(element) || element.get_string().get(text)) return false;  // absent or not text: no value matches
        if (std::find(values.begin(), values.end(), text) == values.end()) return false;
    }
    return true;
}

std::string RecordDecoder::convert(std::size_t field, simdjson::dom::element value, TextArena& arena, FieldValue& out) const {
    const FieldSpec& f = fields_[field];
    auto wrong = [&](const char* what) { return "wrong type: " + f.name + " must be " + what; };
    std::string_view text;
    const bool is_string = !value.get_string().get(text);
    if (is_string && text.find('\0') != std::string_view::npos) return "invalid string: " + f.name + " contains NUL";
    switch (f.type) {
        case FieldType::text:
            if (!is_string) return wrong("a string");
            out = arena.store(text);
            return "";
        case FieldType::integer: {
            std::int64_t v = 0;
            if (value.get_int64().get(v)) return wrong("an integer within +-9223372036854775807");
            out = v;
            return "";
        }
        case FieldType::numeric: {
            if (is_string) {
                if (!is_decimal(text)) return wrong("a decimal number");
                out = arena.store(text);
                return "";
            }
            if (value.is_int64() || value.is_uint64()) {
                out = arena.store(simdjson::minify(value));  // an integer: its digits
                return "";
            }
            double number = 0;
            if (value.get_double().get(number)) return wrong("a decimal number");
            out = arena.store(content_id::json_number_decimal(number));
            return "";
        }
        case FieldType::double_precision: {
            double v = 0;
            if (value.get_double().get(v)) return wrong("a number");
            out = v;
            return "";
        }
        case FieldType::boolean: {
            bool v = false;
            if (value.get_bool().get(v)) return wrong("true or false");
            out = v;
            return "";
        }
        case FieldType::uuid: {
            if (!is_string || !is_uuid(text)) return wrong("a UUID");
            char lower[36];  // is_uuid: 36 characters
            std::transform(text.begin(), text.end(), lower, [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
            out = arena.store(std::string_view(lower, text.size()));
            return "";
        }
        case FieldType::inet:
            if (!is_string || !is_inet(text)) return wrong("an IP address");
            out = arena.store(text);
            return "";
        case FieldType::jsonb: {
            if (contains_nul(value)) return "invalid string: " + f.name + " contains NUL";
            out = arena.store(simdjson::minify(value));
            return "";
        }
        case FieldType::timestamp: {
            using Kind = TimestampEncoding::Kind;
            std::optional<std::int64_t> us;
            if (f.timestamp.kind == Kind::epoch_s || f.timestamp.kind == Kind::epoch_ms || f.timestamp.kind == Kind::epoch_us) {
                double v = 0;
                if (value.get_double().get(v)) return wrong("a number (epoch time)");
                if (f.timestamp.kind != Kind::epoch_s && v != std::trunc(v)) return wrong("a whole number (epoch time)");
                us = epoch_us(v, f.timestamp.kind);
            } else {
                if (!is_string) return wrong("a date and time string");
                us = f.timestamp.kind == Kind::iso8601 ? iso8601_us(std::string(text)) : formatted_us(std::string(text), f.timestamp.format);
                if (!us) return "wrong format: " + f.name + " must be " + (f.timestamp.kind == Kind::iso8601 ? "ISO 8601" : "'" + f.timestamp.format + "'");
            }
            if (!within_years(*us)) {
                if (field != event_time_field_) return "out of range: " + f.name + " outside the years 1 to 9999";
                // The event time is judged by the driver's bounds (time.min_event_time ..
                // now + time.max_event_time_ahead_ms), which make it an event_time_out_of_range
                // dead letter naming the value as sent (a millisecond time read as seconds), as
                // for any other implausible time. Saturated, no bounds admit it.
                us = *us < kMinTimeUs ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
            }
            out = *us;
            return "";
        }
    }
    return wrong("of its declared type");
}

std::string RecordDecoder::check_rules(std::size_t field, const FieldValue& value) const {
    const FieldSpec& f = fields_[field];
    if (std::holds_alternative<std::monostate>(value)) return "";
    if (f.min || f.max) {
        double v = 0;
        if (const auto* i = std::get_if<std::int64_t>(&value)) v = static_cast<double>(*i);
        else if (const auto* d = std::get_if<double>(&value)) v = *d;
        else v = std::strtod(std::string(std::get<Text>(value).view()).c_str(), nullptr);  // beyond double: +-inf, still ordered
        if ((f.min && v < *f.min) || (f.max && v > *f.max))
            return "out of range: " + f.name + " not in [" + format_number(f.min.value_or(-INFINITY)) + ", " + format_number(f.max.value_or(INFINITY)) + "]";
    }
    const auto* value_text = std::get_if<Text>(&value);
    if (!value_text || f.type != FieldType::text) return "";
    const std::string_view text = value_text->view();
    if (!f.one_of.empty() && std::find(f.one_of.begin(), f.one_of.end(), text) == f.one_of.end())
        return "not allowed: " + f.name + " is not one of the values the spec lists (one_of)";
    if (patterns_[field] && !RE2::FullMatch(text, *patterns_[field])) return "pattern mismatch: " + f.name + " does not match " + f.pattern;
    if (f.max_length && text.size() > *f.max_length) return "too long: " + f.name + " longer than " + std::to_string(*f.max_length) + " bytes";
    return "";
}

}  // namespace starstream::daemon::spec
