#include "event_encoding.h"

#include <cstdlib>

namespace starstream::bench::loader {

namespace {

/// `s` into `slot` (null when empty), reusing the slot's string when it holds one.
void set_text(nlohmann::ordered_json& slot, const std::string& s, bool empty_is_null) {
    if (empty_is_null && s.empty()) slot = nullptr;
    else if (slot.is_string()) slot.get_ref<std::string&>().assign(s);
    else slot = s;
}

}  // namespace

EventEncoder::EventEncoder() {
    // Keys inserted once, in the producer's order; encode() only replaces values.
    doc_ = {{"event_id", ""}, {"timestamp", ""}, {"event_type", ""}, {"user_id", ""}, {"user_session", ""},
            {"product", {{"id", ""}, {"category_id", nullptr}, {"category_code", nullptr}, {"brand", nullptr}, {"price", nullptr}}}};
    event_id_ = &doc_["event_id"];
    timestamp_ = &doc_["timestamp"];
    event_type_ = &doc_["event_type"];
    user_id_ = &doc_["user_id"];
    user_session_ = &doc_["user_session"];
    auto& product = doc_["product"];
    product_id_ = &product["id"];
    category_id_ = &product["category_id"];
    category_code_ = &product["category_code"];
    brand_ = &product["brand"];
    price_ = &product["price"];
}

std::string EventEncoder::encode(const CommerceEvent& event, const std::string& id) {
    const CommerceRow& r = *event.row;
    set_text(*event_id_, id, false);
    set_text(*timestamp_, format_iso8601(event.epoch_seconds), false);
    set_text(*event_type_, r.event_type, false);
    set_text(*user_id_, r.user_id, false);
    set_text(*user_session_, r.user_session, false);
    set_text(*product_id_, r.product_id, false);
    set_text(*category_id_, r.category_id, true);
    set_text(*category_code_, r.category_code, true);
    set_text(*brand_, r.brand, true);
    // strtod of a decimal of at most 15 digits, and nlohmann's shortest round-trip output, give
    // back that decimal ("31.90" -> 31.9).
    if (event.price.empty()) *price_ = nullptr;
    else *price_ = std::strtod(event.price.c_str(), nullptr);
    return doc_.dump();
}

}  // namespace starstream::bench::loader
