// The Kafka message value of a commerce event: EVENTS.md's seed producer shape, one JSON
// object, keys in this order:
//   {"event_id":"<uuid>","timestamp":"2020-09-24T11:57:06Z","event_type":"view",
//    "user_id":"1515915625519388267","user_session":"LJuJVLEjPT",
//    "product":{"id":"1996170","category_id":"2144415922528452715",
//               "category_code":"electronics.telephone","brand":"samsung","price":31.9}}
// Ids are strings (REES46 ids exceed 2^53: a double would round them). category_id,
// category_code, brand and price are null when the row has them empty. The price is a JSON
// number written as the row's canonical decimal (31.90 -> 31.9; at most 15 digits, so a reader
// that parses it as a double gets that decimal back).
//
// Strings whose bytes are all printable ASCII other than '"' and '\' (nearly every REES46
// value) are copied between quotes; any other string is escaped by nlohmann-json, which also
// checks it is UTF-8. Building the object as an nlohmann document and dumping it cost 40 % of
// the loader's reading thread, as much as everything else together (bench/results.md, "Loader").
// Thread rules: one encoder per thread (it reuses its buffer between events).
#pragma once

#include "commerce_validation.h"

#include <string>
#include <string_view>

namespace starstream::bench::loader {

class EventEncoder {
public:
    /// The JSON text of `event` with id `id`; valid until the next call.
    std::string_view encode(const CommerceEvent& event, const std::string& id);

private:
    std::string out_;
};

}  // namespace starstream::bench::loader
