// The records starstream-load reads (../shared/EVENTS.md section 2, REES46 commerce events):
// a row's nine fields as text, before validation, and the reasons a record is rejected.
// A source (csv_source.h, jsonl_source.h) turns a file into SourceRecords; validation
// (commerce_validation.h) turns a row into an event or a reject; nothing here touches Kafka.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace starstream::bench::loader {

/// The REES46 fields as read, UTF-8 text; "" when the field is empty, null or absent.
/// CSV and JSONL sources fill the same struct, so validation and the event id do not depend
/// on the input format.
struct CommerceRow {
    std::string event_time;     ///< CSV event_time, JSONL "timestamp" (either: REES46's form or ISO 8601 UTC)
    std::string event_type;     ///< view, cart, remove_from_cart, purchase
    std::string product_id;
    std::string category_id;
    std::string category_code;  ///< dotted taxonomy, often empty
    std::string brand;          ///< often empty
    std::string price;          ///< decimal text, may be empty
    std::string user_id;
    std::string user_session;

    void clear();
};

/// Why a record was not sent, one per record: the first failing check in this order (the
/// order of the enum). Names are the reject file's and the summary's `reason` values.
enum class RejectReason {
    invalid_utf8,          ///< the record's bytes are not UTF-8
    malformed_csv,         ///< text after a closing quote, or a quote never closed
    field_count,           ///< CSV: not as many fields as the header
    malformed_json,        ///< JSONL: not a JSON object, or a field neither string, number nor null
    missing_event_time,    ///< required fields, checked in this order: empty, blank, null or absent
    missing_event_type,
    missing_product_id,
    missing_user_id,
    missing_user_session,
    unknown_event_type,    ///< not one of view, cart, remove_from_cart, purchase
    bad_event_time,        ///< not a valid "YYYY-MM-DD HH:MM:SS UTC" or ISO 8601 UTC time (commerce_validation.h)
    bad_price,             ///< not a plain decimal (digits, optional fraction), or more than 15 significant digits
    negative_price,        ///< a decimal below zero
    message_too_large,     ///< the encoded message exceeds --max-message-bytes (a broker would refuse it)
};

const char* to_string(RejectReason reason);

struct Reject {
    RejectReason reason;
    std::string detail;  ///< for the person fixing the file: which field, what was expected
};

/// One record of an input file: a row to validate, or a reject found while reading it.
struct SourceRecord {
    std::uint64_t line = 0;        ///< 1-based physical line where the record starts, also for a record spanning lines (the CSV header is line 1)
    std::string raw;               ///< the record's bytes as in the file, without its line end
    CommerceRow row;               ///< filled when `reject` is empty
    std::optional<Reject> reject;  ///< set by the source for invalid_utf8, malformed_csv, field_count, malformed_json
};

/// A file's records in order. Blank lines are not records: they are counted, never sent.
class RowSource {
public:
    virtual ~RowSource() = default;
    /// The next record into `out`; false at the end of the file. Throws std::runtime_error on
    /// a read error.
    virtual bool next(SourceRecord& out) = 0;
    virtual std::uint64_t blank_lines() const = 0;
};

}  // namespace starstream::bench::loader
