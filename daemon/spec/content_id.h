// The dedupe key an event's content gives (pipeline_spec.h EventSpec::hash, `event: {id: {hash:
// [...]}}`): a UUID of the event's typed values, for producers whose own ids are no key (EVENTS.md
// section 2's seed producer writes "<user>_<product>_<epoch>", one id for a view and a cart add
// of one product in one second). The same values are the same event: a resent message, a file
// loaded twice, or the CSV row and the JSON message it became count once.
//
// The value texts hashed, one per field in the spec's order (record_decoder.h's typed values):
//   text, uuid, inet, jsonb: the value; integer and timestamp: decimal int64 (timestamps in Unix
//   microseconds); numeric: canonical_decimal() of the value (31.90, "031.9" and 3.19e1 are one
//   price); double: the shortest text that reads back as it; boolean: true / false; null: "".
// Bytes hashed: each text as a netstring "<length>:<bytes>," (no field boundary can move); hash:
// XXH3-128 (libxxhash), its canonical big-endian bytes shaped as an RFC 9562 UUIDv8 (version
// nibble 8, variant 10). starstream-load (bench/loader/event_id.h) calls the same function over
// the same fields, so its event_id equals the daemon's key for every message it sends.
// Any thread (no state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::spec::content_id {

/// Lower-case "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx" of `texts` into `out` (replaced; a
/// reused string keeps its buffer: this runs once per event).
void uuid_of(const std::vector<std::string_view>& texts, std::string& out);

/// The canonical text of a decimal "[+-]digits[.digits][e[+-]digits]" (at least one digit; the
/// caller has checked the form): no exponent, no leading zeros before the point, no trailing
/// zeros after it, no point without a fraction, "0" for any zero (-0.00 included), a '-' only
/// before a non-zero value: "+031.900" -> "31.9", "1.5e3" -> "1500", "-2E-2" -> "-0.02".
std::string canonical_decimal(std::string_view text);

/// What a JSON number that is not an integer means as a decimal: the shortest plain decimal (no
/// exponent) that reads back as the same double, "629.79298" for the double nearest 629.79298
/// (std::to_chars, fixed). simdjson's own printer is not shortest ("629.7929799999999"), so the
/// daemon and starstream-load, and a producer writing the price as a string, agreed on no key.
std::string json_number_decimal(double value);

}  // namespace starstream::daemon::spec::content_id
