// The Kafka message value of a commerce event: EVENTS.md's seed producer shape, one JSON
// object, keys in this order:
//   {"event_id": "<uuid>", "timestamp": "2020-09-24T11:57:06Z", "event_type": "view",
//    "user_id": "1515915625519388267", "user_session": "LJuJVLEjPT",
//    "product": {"id": "1996170", "category_id": "2144415922528452715",
//                "category_code": "electronics.telephone", "brand": "samsung", "price": 31.9}}
// Ids are strings (REES46 ids exceed 2^53: a double would round them). category_id,
// category_code, brand and price are null when the row has them empty. The price is a JSON
// number whose shortest text reads back as the row's decimal (at most 15 digits: validation).
// Thread rules: one encoder per thread (it reuses its document between events).
#pragma once

#include "commerce_validation.h"

#include <nlohmann/json.hpp>

#include <string>

namespace starstream::bench::loader {

class EventEncoder {
public:
    EventEncoder();
    /// The JSON text of `event` with id `id`.
    std::string encode(const CommerceEvent& event, const std::string& id);

private:
    nlohmann::ordered_json doc_;
    // The document's value slots, resolved once: encode() assigns in place (a string slot keeps
    // its buffer), which is most of the encoder's cost otherwise.
    nlohmann::ordered_json *event_id_, *timestamp_, *event_type_, *user_id_, *user_session_;
    nlohmann::ordered_json *product_id_, *category_id_, *category_code_, *brand_, *price_;
};

}  // namespace starstream::bench::loader
