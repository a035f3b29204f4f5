// CSV files of REES46 commerce events (the Kaggle export): RFC 4180.
//   - The first record is the header; it names the nine columns event_time, event_type,
//     product_id, category_id, category_code, brand, price, user_id, user_session in any
//     order (extra columns are ignored). A UTF-8 byte order mark before it is skipped.
//   - Fields are separated by ','; a field in double quotes may hold ',', '"' (doubled) and
//     line breaks; records end with LF or CRLF (the CR of a CRLF inside quotes is data).
//   - Split as Python's csv module with strict=True (what pandas and most producers read
//     with): text after a closing quote other than ',' or the line end is malformed_csv, an
//     opening quote never closed is malformed_csv at the line it opened (it runs to the end
//     of the file), and a '"' inside an unquoted field is data (RFC 4180 forbids it, but
//     rejecting it would refuse rows the seed producer accepted).
//   - A record with another number of fields than the header is field_count (RFC 4180: "each
//     line should contain the same number of fields"): a row cut short by a truncated
//     download, or an unquoted ',' that splits a field, is rejected, never padded or shifted.
//   - A rejected record's line is where it starts, also when quoted line breaks make it span
//     several lines: the line an editor jumps to.
//   - An empty line is no record (counted in blank_lines()).
// Thread rules: one thread.
#pragma once

#include "commerce_row.h"

#include <array>
#include <fstream>
#include <string>
#include <vector>

namespace starstream::bench::loader {

class CsvSource final : public RowSource {
public:
    /// Opens `path` and reads its header. Throws std::runtime_error naming the file and line
    /// when the file cannot be read or the header lacks a column or names one twice.
    explicit CsvSource(const std::string& path);
    bool next(SourceRecord& out) override;
    std::uint64_t blank_lines() const override { return blank_lines_; }

private:
    /// Reads the next record's physical lines into out.raw; false at the end of the file.
    bool read_record(SourceRecord& out);

    std::string path_;
    std::ifstream in_;
    std::uint64_t line_ = 0;  ///< physical lines read so far
    std::uint64_t blank_lines_ = 0;
    std::size_t header_fields_ = 0;
    std::array<std::size_t, 9> column_of_{};  ///< field index of each CommerceRow field, in EVENTS.md order
    std::vector<std::string> fields_;
    std::string line_text_;
};

}  // namespace starstream::bench::loader
