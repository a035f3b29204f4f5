// EVENTS.md section 2's validation of a commerce row (the seed producer's rules): event_time,
// event_type, product_id, user_id and user_session are required; the event type is one of view,
// cart, remove_from_cart, purchase; the time parses; the price, when given, is a decimal and not
// negative. An empty price is allowed (EVENTS.md's required list omits it; the producer's check
// is "no negative price") and is sent as null.
//
// Where a hostile row could be read two ways, the rule (tests/support/commerce_oracle.py and
// tests/integration/test_loader.py's oracle apply the same, written again in Python):
//   - Missing = empty after removing ASCII spaces and tabs (what CSV writers pad with). Any
//     other character is a value, U+00A0 and other Unicode spaces included: the validator checks
//     presence, not what an id may look like (Python's str.strip() would blank far more).
//   - One time grammar for CSV and JSONL (parse_event_time): REES46's form or ISO 8601 UTC. The
//     two files carry the same format (EVENTS.md: "as CSV or JSON"), so a CSV exported by
//     pandas from the JSON loads too; other offsets are refused (EVENTS.md: times are UTC).
//   - Price: "[-]digits[.digits]", at most 15 significant digits (leading zeros of the integer
//     part and trailing zeros of the fraction do not count: "0000000000000031.90" is 3 digits);
//     15 because a reader parsing the JSON number as a double must get that decimal back.
//   - Sameness is by typed value, not by spelling: "31.90" and "31.9", or a time written in
//     either form, are one value, so two rows differing only so are one event (event_id.h).
//
// Normalization (so that a CSV row and the JSONL message it became give the same event):
// the time becomes Unix microseconds; the price its canonical decimal ("031.90" -> "31.9",
// "-0.00" -> "0"; content_id::canonical_decimal, the daemon's too), which is also a valid JSON
// number.
#pragma once

#include "commerce_row.h"

#include <cstdint>
#include <optional>
#include <string>

namespace starstream::bench::loader {

/// A row that passed validation; `row` points at the caller's row, which must outlive it.
struct CommerceEvent {
    const CommerceRow* row = nullptr;
    std::int64_t epoch_us = 0;       ///< event time, Unix microseconds (UTC)
    std::string price;               ///< canonical decimal, "" when the row has no price
};

/// Fills `out` and returns nothing when `row` is valid, else the first failing check.
std::optional<Reject> validate(const CommerceRow& row, CommerceEvent& out);

/// The event time as Unix microseconds, in either file format (one grammar, decision 3 of the
/// header): "YYYY-MM-DD HH:MM:SS UTC" (REES46's form) or ISO 8601 UTC
/// "YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+00:00|+0000)" (what Python's isoformat, pandas' to_json and
/// JavaScript's toISOString write); nothing for any other text, another offset, or an
/// impossible date or time (Feb 30, 24:00, :60).
std::optional<std::int64_t> parse_event_time(const std::string& text);

/// The ISO 8601 UTC text of Unix microseconds: "2020-09-24T11:57:06Z", with ".ffffff" before
/// the Z only when the time has a fraction of a second.
std::string format_iso8601(std::int64_t epoch_us);

}  // namespace starstream::bench::loader
