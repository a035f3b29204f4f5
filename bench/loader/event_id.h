// The event id of a commerce event: pipelines/commerce_events.yaml's dedupe key, computed here
// by the same function (content_id.h) over the same fields in the same order:
//   event: {id: {name: event_key, hash: [timestamp, event_type, product_id, user_id, user_session, price]}}
// as their typed values: the time as Unix microseconds, the canonical price ("" when absent),
// the others as read. So every message the loader sends carries in "event_id" the key the
// daemon derives from its content (test_commerce_pipeline checks event_id = event_key per fact).
//
// What makes an event (the spec says the same): who (user_id, user_session) did what
// (event_type) to which product (product_id) when (the time) at which price. Two rows equal in
// those are one event sent twice (a re-run, a file loaded twice, the CSV row and the JSONL
// message it became); category_id, category_code and brand describe the product, not the event
// (a re-export that fills a brand in is not a second purchase). EVENTS.md's seed producer names
// an event `<user_id>_<product_id>_<epoch>`, which collides for a view and a cart add of one
// product in one second; here the event type, session and price take part too.
#pragma once

#include "commerce_validation.h"

#include <string>

namespace starstream::bench::loader {

/// The key into `out`: lower-case "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx" (replaced; a
/// reused string keeps its buffer: this runs once per event sent).
void event_id(const CommerceEvent& event, std::string& out);

}  // namespace starstream::bench::loader
