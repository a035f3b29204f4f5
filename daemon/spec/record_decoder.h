// The decode stage of a spec-driven pipeline: one JSON message -> the spec's typed fields, or a
// dead-letter reason. Each field is found by its JSON pointer (simdjson's RFC 6901 at_pointer),
// converted to its type and checked against its rules (pipeline_spec.h); the first failure is
// the reason, in the words of the compiled product_view decoder ("missing field: user_id",
// "wrong type: price must be a number", ...).
//
// Conversions (the JSON a field accepts -> the value kept):
//   text      string -> as sent (no NUL)
//   integer   integral number within int64 -> int64
//   numeric   a string holding a decimal number ("12.50", "+5", "1.5e3"; at most 1,000 digits,
//             exponent within +-1,000) -> that text, every digit kept; or a number -> simdjson's
//             text of its double (12.50 -> 12.5: send decimals as strings to keep them exact)
//   double    number -> double
//   boolean   true / false -> bool
//   uuid      string 8-4-4-4-12 hex digits -> lower-case text
//   inet      string, an IPv4 or IPv6 address (inet_pton) -> as sent
//   jsonb     any value -> its minified JSON text (no NUL in a string or key: jsonb refuses it;
//             numbers pass through doubles as above)
//   timestamp unit s / ms / us: a number (s may have a fraction) -> Unix microseconds;
//             iso8601: "YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+HH:MM|+HHMM]" (no offset: UTC);
//             format: a strftime pattern of %Y %m %d %H %M %S %F %T %z (spec_reader refuses the
//             conversions date::parse reads loosely) -> Unix microseconds; years 1 to 9999 only,
//             except in the spec's event-time field, where a time outside them is saturated
//             (INT64_MIN or INT64_MAX) for the driver's event-time bounds to refuse
//             (`event_time_out_of_range`, DESIGN.md invariant 9)
// A pointer whose path is not in the message (a parent missing, null, or not a container of
// that kind) finds nothing. A key given twice in an object: the first one counts. A number no
// double holds anywhere in the message makes it invalid JSON (simdjson).
// Absent, null and an empty string ("") are the same, whatever the type: null for an optional
// field, "missing field" for a required one. Range bounds compare as doubles.
// Several pointers (`pointer: [/a, /b]`): the first that holds a value wins; an item
// `{pointer: /a, if: {/kind: [x, y]}}` is tried only when the message's text at /kind is x or y
// (absent, or not a string: not tried). `only_with`: the
// field is null unless the message also holds a value at that pointer. `map`: a text value is
// replaced by its entry after the rules are checked; a value the map does not list is null
// ("not allowed" for a required field). `default` (text): the value when none was found.
// A content-id field (`event: {id: {name, hash}}`, FieldSpec::hash_of) reads nothing from the
// message: its value is content_id.h's uuid of its inputs' values as decoded above.
// `invalid: no_value`: a string the type cannot read (an IP address that is none, a malformed
// UUID or time) is no value, not a dead letter; another JSON type still is one.
// Text values are views (Text) into the record's own scratch arena (DecodedRecord::text), valid
// until the next decode into that record.
// Thread rules: one thread per object (the simdjson parser is reused).
#pragma once

#include "spec/pipeline_spec.h"
#include "spec/text_arena.h"

#include <re2/re2.h>
#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace starstream::daemon::spec {

/// One field's value: null, text (text, numeric, uuid, inet, jsonb: a view into a TextArena,
/// valid while that arena keeps it, text_arena.h), integer or timestamp (int64; timestamps in Unix
/// microseconds), double, boolean. 16 bytes (Text is one pointer).
using FieldValue = std::variant<std::monostate, Text, std::int64_t, double, bool>;

/// A decoded message: values in the order of PipelineSpec::fields.
struct DecodedRecord {
    std::vector<FieldValue> values;
    /// The bytes of the values' Text, cleared by each decode (a scratch arena: its first block is
    /// reused, record after record). A caller keeping values beyond the next decode copies their
    /// text into an arena of its own (SpecStage::append: the batch's).
    TextArena text;
    /// The event-time field's JSON as sent ("1700000000", "\"2026-11-30T10:15:30Z\""), for
    /// messages; "" when the message has none.
    std::string event_time_text;
};

class RecordDecoder {
public:
    /// Compiles the fields of `spec` (a spec read by spec_reader.h: pointers and patterns are
    /// valid). `max_bytes`: longer messages are dead letters (source.max_event_bytes).
    RecordDecoder(const PipelineSpec& spec, std::size_t max_bytes);
    ~RecordDecoder();

    /// Decodes `payload` into `out` (its values replaced, their text in out.text, replaced too).
    /// Returns "" on success, else the dead-letter reason.
    std::string decode(std::string_view payload, DecodedRecord& out);

private:
    /// `pointer`'s element in `root`: a top-level key from the object read once per message
    /// (top_level_), any other pointer by simdjson's at_pointer.
    simdjson::simdjson_result<simdjson::dom::element> at(simdjson::dom::element root, const std::string& pointer) const;
    /// Looks `pointer` up in `root`: `found` tells whether it holds a value (not absent, null or
    /// ""). Returns "" or the reason the message cannot be read there.
    std::string find(simdjson::dom::element root, const std::string& field, const std::string& pointer, simdjson::dom::element& value,
                     bool& found) const;
    /// Whether the message's text at each of `source`'s condition pointers is one of its values.
    bool holds(simdjson::dom::element root, const FieldSource& source) const;
    /// Converts and checks one field's element. Returns "" or the reason.
    std::string convert(std::size_t field, simdjson::dom::element value, TextArena& arena, FieldValue& out) const;
    std::string check_rules(std::size_t field, const FieldValue& value) const;
    /// The uuid of a content-id field (FieldSpec::hash_of) from the values decoded before it.
    Text content_id(std::size_t field, const std::vector<FieldValue>& values, TextArena& arena);

    std::vector<FieldSpec> fields_;
    std::vector<std::unique_ptr<RE2>> patterns_;  ///< per field; null without a pattern
    std::size_t max_bytes_;
    std::size_t event_time_field_ = SIZE_MAX;  ///< the index of spec.event.time in fields_
    simdjson::dom::parser parser_;
    /// The spec's one-level pointers ("/user_id"): their keys, unescaped (RFC 6901: ~1 is '/',
    /// ~0 is '~'), each with a slot; a message's top-level object is walked once and each key's
    /// first value put in its slot, instead of one linear key search per pointer and field.
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> slot_of_key_;
    std::unordered_map<std::string, std::size_t> slot_of_pointer_;
    std::vector<simdjson::dom::element> slots_;  ///< the message's values by slot (found_ tells which)
    std::vector<bool> found_;
    std::vector<std::string> content_texts_;  ///< content_id's inputs as text, reused per record
    std::string content_uuid_;                ///< content_id's uuid, reused per record
};

}  // namespace starstream::daemon::spec
