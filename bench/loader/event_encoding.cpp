#include "event_encoding.h"

#include <cstdlib>

namespace starstream::bench::loader {

namespace {

nlohmann::ordered_json text_or_null(const std::string& s) { return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s); }

}  // namespace

EventEncoder::EventEncoder() {
    // Keys inserted once, in the producer's order; encode() only replaces values.
    doc_ = {{"event_id", ""}, {"timestamp", ""}, {"event_type", ""}, {"user_id", ""}, {"user_session", ""},
            {"product", {{"id", ""}, {"category_id", nullptr}, {"category_code", nullptr}, {"brand", nullptr}, {"price", nullptr}}}};
}

std::string EventEncoder::encode(const CommerceEvent& event, const std::string& id) {
    const CommerceRow& r = *event.row;
    doc_["event_id"] = id;
    doc_["timestamp"] = format_iso8601(event.epoch_seconds);
    doc_["event_type"] = r.event_type;
    doc_["user_id"] = r.user_id;
    doc_["user_session"] = r.user_session;
    auto& product = doc_["product"];
    product["id"] = r.product_id;
    product["category_id"] = text_or_null(r.category_id);
    product["category_code"] = text_or_null(r.category_code);
    product["brand"] = text_or_null(r.brand);
    // strtod of a decimal of at most 15 digits, and nlohmann's shortest round-trip output, give
    // back that decimal ("31.90" -> 31.9).
    product["price"] = event.price.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(std::strtod(event.price.c_str(), nullptr));
    return doc_.dump();
}

}  // namespace starstream::bench::loader
