// EVENTS.md section 2's validation of a commerce row (the seed producer's rules): event_time,
// event_type, product_id, user_id and user_session are required (non-empty); the event type
// is one of view, cart, remove_from_cart, purchase; the time parses; the price, when given, is
// a decimal and not negative. An empty price is allowed (EVENTS.md's required list omits it;
// the producer's check is "no negative price") and is sent as null.
//
// Normalization (so that a CSV row and the JSONL message it became give the same event):
// the time becomes Unix seconds; the price its canonical decimal ("031.90" -> "31.9",
// "-0.00" -> "0"). Prices are limited to 15 digits so that the JSON number (a double) reads
// back as exactly that decimal.
#pragma once

#include "commerce_row.h"

#include <cstdint>
#include <optional>
#include <string>

namespace starstream::bench::loader {

/// A row that passed validation; `row` points at the caller's row, which must outlive it.
struct CommerceEvent {
    const CommerceRow* row = nullptr;
    std::int64_t epoch_seconds = 0;  ///< event time, UTC
    std::string price;               ///< canonical decimal, "" when the row has no price
};

/// Fills `out` and returns nothing when `row` is valid, else the first failing check.
std::optional<Reject> validate(const CommerceRow& row, CommerceEvent& out);

/// "YYYY-MM-DD HH:MM:SS UTC" (the CSV form) or "YYYY-MM-DDTHH:MM:SSZ" (the JSON form) as Unix
/// seconds; nothing for any other text or an impossible date or time (Feb 30, 24:00, :60).
std::optional<std::int64_t> parse_event_time(const std::string& text);

/// The ISO 8601 UTC text of Unix seconds: "2020-09-24T11:57:06Z".
std::string format_iso8601(std::int64_t epoch_seconds);

}  // namespace starstream::bench::loader
