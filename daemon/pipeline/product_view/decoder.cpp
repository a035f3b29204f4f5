#include "pipeline/product_view/decoder.h"

namespace starstream::daemon::product_view {

namespace {

enum class Need { required, optional };

/// Reads a string field. Returns "" on success or a reason. Absent or null optional fields
/// leave `out` empty.
std::string read_string(const simdjson::dom::object& object, const char* name, Need need, std::string& out) {
    simdjson::dom::element value;
    if (object.at_key(name).get(value) || value.is_null())
        return need == Need::required ? std::string("missing field: ") + name : "";
    std::string_view text;
    if (value.get_string().get(text)) return std::string("wrong type: ") + name + " must be a string";
    if (text.find('\0') != std::string_view::npos) return std::string("invalid string: ") + name + " contains NUL";
    if (need == Need::required && text.empty()) return std::string("missing field: ") + name + " is empty";
    out.assign(text);
    return "";
}

}  // namespace

std::string Decoder::decode(std::string_view payload, ProductViewEvent& event) {
    if (payload.size() > max_event_bytes_)
        return "oversized: more than source.max_event_bytes (" + std::to_string(max_event_bytes_) + ")";
    simdjson::dom::element root;
    // realloc_if_needed copies into a padded buffer: Kafka's payload has no SIMDJSON_PADDING.
    if (auto error = parser_.parse(payload.data(), payload.size(), true).get(root)) {
        if (error == simdjson::UTF8_ERROR) return "invalid UTF-8";
        return std::string("invalid JSON: ") + simdjson::error_message(error);
    }
    simdjson::dom::object object;
    if (root.get_object().get(object)) return "invalid JSON: not an object";

    event = ProductViewEvent{};
    std::string id;
    if (auto reason = read_string(object, "id", Need::required, id); !reason.empty()) return reason;
    if (!parse_uuid(id, event.id)) return "wrong type: id must be a UUID";

    simdjson::dom::element ts;
    if (object.at_key("time_stamp").get(ts) || ts.is_null()) return "missing field: time_stamp";
    if (!ts.is_int64() || ts.get_int64().get(event.time_stamp)) return "wrong type: time_stamp must be an integer";

    struct Field {
        const char* name;
        Need need;
        std::string ProductViewEvent::*member;
    };
    static const Field fields[] = {
        {"store_id", Need::required, &ProductViewEvent::store_id},
        {"collection", Need::required, &ProductViewEvent::collection},
        {"ip", Need::optional, &ProductViewEvent::ip},
        {"user_agent", Need::optional, &ProductViewEvent::user_agent},
        {"resolution", Need::optional, &ProductViewEvent::resolution},
        {"device_id", Need::optional, &ProductViewEvent::device_id},
        {"user_id_db", Need::optional, &ProductViewEvent::customer_id},
        {"current_url", Need::optional, &ProductViewEvent::current_url},
        {"referrer_url", Need::optional, &ProductViewEvent::referrer_url},
        {"product_id", Need::optional, &ProductViewEvent::product_id},
        {"viewing_product_id", Need::optional, &ProductViewEvent::viewing_product_id},
    };
    for (const auto& f : fields)
        if (auto reason = read_string(object, f.name, f.need, event.*f.member); !reason.empty()) return reason;
    // These are natural keys, indexed in dimensions and windowed tables: a btree row holds at
    // most about 2.7 KB, so a longer key could never be stored (SQLSTATE 54000).
    constexpr std::size_t kMaxKeyBytes = 512;
    for (const char* key : {"store_id", "collection", "product_id", "viewing_product_id", "device_id"})
        for (const auto& f : fields)
            if (std::string_view(f.name) == key && (event.*f.member).size() > kMaxKeyBytes)
                return std::string("oversized field: ") + key + " longer than " + std::to_string(kMaxKeyBytes) + " bytes";

    simdjson::dom::element option;
    if (!object.at_key("option").get(option) && !option.is_null()) {
        std::string_view text;
        const bool empty_string = !option.get_string().get(text) && text.empty();
        if (!empty_string) event.options_json = simdjson::minify(option);
        // jsonb rejects \u0000 inside strings; minify keeps escapes as written.
        if (event.options_json.find("\\u0000") != std::string::npos) return "invalid string: option contains NUL";
    }
    return "";
}

}  // namespace starstream::daemon::product_view
