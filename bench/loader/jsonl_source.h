// JSONL files of commerce events in the seed producer's shape (event_encoding.h), one JSON
// object a line (LF or CRLF), e.g. a topic dumped by kcat or a previous load's messages:
//   {"timestamp", "event_type", "user_id", "user_session", "product": {"id", "category_id",
//    "category_code", "brand", "price"}}
// Each field may be a string, a number (integers keep every digit; other numbers become the
// shortest text of their double, 31.90 -> "31.9") or null (= empty); "event_id" and unknown fields are ignored:
// the loader derives the id from the fields (event_id.h), so a reloaded message keeps its id.
// Anything else (not JSON, not an object, a field of another type) is malformed_json; bytes
// that are not UTF-8 are invalid_utf8. An empty line is no record (counted in blank_lines()).
// A UTF-8 byte order mark before the first line is skipped (PowerShell 5's and older Notepad's
// "UTF-8" write one). "timestamp" takes commerce_validation.h's grammar: ISO 8601 UTC with Z or
// +00:00 and an optional fraction, or REES46's "YYYY-MM-DD HH:MM:SS UTC".
// Thread rules: one thread.
#pragma once

#include "commerce_row.h"

#include <simdjson.h>

#include <fstream>
#include <string>

namespace starstream::bench::loader {

class JsonlSource final : public RowSource {
public:
    /// Throws std::runtime_error when `path` cannot be opened.
    explicit JsonlSource(const std::string& path);
    bool next(SourceRecord& out) override;
    std::uint64_t blank_lines() const override { return blank_lines_; }

private:
    std::string path_;
    std::ifstream in_;
    std::uint64_t line_ = 0;
    std::uint64_t blank_lines_ = 0;
    simdjson::dom::parser parser_;
};

}  // namespace starstream::bench::loader
