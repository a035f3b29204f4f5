// Bytes -> ProductViewEvent, or the reason the bytes are not a valid event (a dead letter).
//
// Rules (EVENTS.md): the message is UTF-8 JSON of at most `max_event_bytes`; `id` is a UUID
// string; `time_stamp` an integer (Unix seconds); `store_id` and `collection` non-empty
// strings; the other fields it reads, when present and not null, are strings (`option` is
// any JSON). Unknown fields are ignored. Strings may not contain NUL (Postgres text cannot);
// the natural keys (store_id, collection, product_id, viewing_product_id, device_id) are at
// most 512 bytes (they are indexed).
// simdjson's DOM parser validates the whole document (On-Demand would skip unread parts).
// Thread rules: one decoder per thread (it owns simdjson's parser buffers).
#pragma once

#include "spec/uuid_text.h"

#include "pipeline/product_view/product_view_event.h"

#include <simdjson.h>

#include <string>
#include <string_view>

namespace starstream::daemon::product_view {

class Decoder {
public:
    explicit Decoder(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

    /// Fills `event` and returns "" on success; otherwise returns the dead-letter reason
    /// (short, stable, e.g. "invalid JSON: ...", "missing field: id", "wrong type: time_stamp").
    std::string decode(std::string_view payload, ProductViewEvent& event);

private:
    std::size_t max_event_bytes_;
    simdjson::dom::parser parser_;
};

using spec::parse_uuid;

}  // namespace starstream::daemon::product_view
