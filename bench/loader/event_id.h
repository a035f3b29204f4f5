// The event id of a commerce event: a UUID derived from the whole normalized row.
//
// EVENTS.md's seed producer names an event `<user_id>_<product_id>_<epoch>`, which collides for
// two distinct events of one user and product in one second (a view and a cart add, say).
// Here every field takes part, so the id is
//   - equal for a resent duplicate of a row (a re-run, a file loaded twice, the CSV row and
//     the JSONL message it became): downstream dedupe by event id drops the copy;
//   - different for two events that differ in any field.
// Consequence: two byte-identical rows (after normalization) are one event; the source data
// has no finer identity to tell them apart.
//
// Bytes hashed: the nine normalized fields in EVENTS.md order (event time as decimal Unix
// seconds, the canonical price or "" when absent, the others as read), each as a netstring
// "<length>:<bytes>," so that no field boundary can move. Hash: XXH3-128 (libxxhash), its
// canonical big-endian bytes shaped as an RFC 9562 UUIDv8 (version nibble 8, variant 10).
#pragma once

#include "commerce_validation.h"

#include <string>

namespace starstream::bench::loader {

/// Lower-case "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx" into `out` (replaced; a reused
/// string keeps its buffer: this runs once per event sent).
void event_id(const CommerceEvent& event, std::string& out);

}  // namespace starstream::bench::loader
