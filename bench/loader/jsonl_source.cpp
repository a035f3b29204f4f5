#include "jsonl_source.h"

#include "spec/content_id.h"

#include <stdexcept>

namespace starstream::bench::loader {

namespace {

/// A field's value as text into `out`: strings as they are, null as "", integers in decimal,
/// other numbers as the shortest plain decimal that reads back as the same double (31.90 ->
/// "31.9", content_id::json_number_decimal: the daemon reads a JSON number so too).
/// An error names the field.
std::optional<std::string> field_text(simdjson::dom::element value, const std::string& name, std::string& out) {
    switch (value.type()) {
        case simdjson::dom::element_type::STRING: out.assign(std::string_view(value.get_string().value_unsafe())); return std::nullopt;
        case simdjson::dom::element_type::NULL_VALUE: out.clear(); return std::nullopt;
        case simdjson::dom::element_type::INT64: out = std::to_string(value.get_int64().value_unsafe()); return std::nullopt;
        case simdjson::dom::element_type::UINT64: out = std::to_string(value.get_uint64().value_unsafe()); return std::nullopt;
        case simdjson::dom::element_type::DOUBLE: out = daemon::spec::content_id::json_number_decimal(value.get_double().value_unsafe()); return std::nullopt;
        default: return "field " + name + ": expected a string, a number or null";
    }
}

/// The producer-shaped object into `row`; an error text when the line is not one.
std::optional<std::string> read_event(simdjson::dom::element root, CommerceRow& row) {
    simdjson::dom::object object;
    if (root.get_object().get(object)) return "not a JSON object";
    for (auto [key, value] : object) {
        std::string* target = key == "timestamp" ? &row.event_time : key == "event_type" ? &row.event_type
                            : key == "user_id"   ? &row.user_id    : key == "user_session" ? &row.user_session : nullptr;
        if (target) {
            if (auto error = field_text(value, std::string(key), *target)) return error;
            continue;
        }
        if (key != "product" || value.is_null()) continue;  // event_id and unknown fields
        simdjson::dom::object product;
        if (value.get_object().get(product)) return "field product: expected an object";
        for (auto [pkey, pvalue] : product) {
            std::string* ptarget = pkey == "id" ? &row.product_id : pkey == "category_id" ? &row.category_id
                                 : pkey == "category_code" ? &row.category_code : pkey == "brand" ? &row.brand
                                 : pkey == "price" ? &row.price : nullptr;
            if (ptarget)
                if (auto error = field_text(pvalue, "product." + std::string(pkey), *ptarget)) return error;
        }
    }
    return std::nullopt;
}

}  // namespace

JsonlSource::JsonlSource(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw std::runtime_error(path + ": cannot open");
}

bool JsonlSource::next(SourceRecord& out) {
    out.reject.reset();
    out.row.clear();
    for (;;) {
        if (!std::getline(in_, out.raw)) {
            if (in_.bad()) throw std::runtime_error(path_ + ": read error after line " + std::to_string(line_));
            return false;
        }
        ++line_;
        if (line_ == 1 && out.raw.compare(0, 3, "\xEF\xBB\xBF") == 0) out.raw.erase(0, 3);  // byte order mark, as csv_source.h
        if (!out.raw.empty() && out.raw.back() == '\r') out.raw.pop_back();
        if (out.raw.find_first_not_of(" \t") != std::string::npos) break;
        ++blank_lines_;
    }
    out.line = line_;
    if (!simdjson::validate_utf8(out.raw.data(), out.raw.size())) {
        out.reject = Reject{RejectReason::invalid_utf8, "the line is not valid UTF-8"};
        return true;
    }
    simdjson::dom::element root;
    std::optional<std::string> error;
    if (auto e = parser_.parse(out.raw).get(root)) error = simdjson::error_message(e);  // copies into its padded buffer
    else error = read_event(root, out.row);
    if (error) {
        out.row.clear();
        out.reject = Reject{RejectReason::malformed_json, *error};
    }
    return true;
}

}  // namespace starstream::bench::loader
