// One commerce event as the REES46 CSV and the seed producer's JSON write it
// (../shared/EVENTS.md section 2), and its two encodings.
//
// CSV: the Kaggle header's nine columns, times as `YYYY-MM-DD HH:MM:SS UTC`, a field quoted
// (RFC 4180) only when it holds a comma or a quote. JSON: `{"event_id", "timestamp" (ISO 8601
// UTC, `YYYY-MM-DDTHH:MM:SSZ`), "event_type", "user_id", "user_session", "product": {"id",
// "category_id", "category_code", "brand", "price"}}`. Ids are JSON strings: user and category
// ids have 19 digits, beyond what a double (and so many JSON readers) holds exactly. The price
// is a JSON number when its text is a decimal number, else the text as a JSON string. An empty
// required field (event_time, product_id, user_id, user_session) is an absent JSON key: that is
// how a malformed row reaches Kafka.
#pragma once

#include <cstdint>
#include <string>

namespace starstream::bench {

struct CommerceRow {
    std::int64_t epoch = 0;  ///< event time, Unix seconds (UTC)
    bool has_time = true;    ///< false: the row's event_time is missing (a malformed row)
    std::string event_type, product_id, category_id, category_code, brand, price, user_id, user_session;
};

/// `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`
const char* commerce_csv_header();

/// The row as one CSV line, without the line end.
std::string to_csv(const CommerceRow& row);

/// The row as one JSON object (no line end) carrying `event_id`.
std::string to_json(const CommerceRow& row, const std::string& event_id);

}  // namespace starstream::bench
