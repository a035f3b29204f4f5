#include "csv_source.h"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

namespace starstream::bench::loader {

namespace {

constexpr std::array<const char*, 9> kColumns = {"event_time", "event_type", "product_id", "category_id", "category_code",
                                                 "brand",      "price",      "user_id",    "user_session"};

enum class Split { complete, open_quote, malformed };

/// Splits one record's text (line ends inside quotes included, its own line end excluded) into
/// `fields`. open_quote: a quoted field is still open at the end of `text`.
Split split_record(std::string_view text, std::vector<std::string>& fields, std::string& why) {
    std::size_t n = 1;  // fields in use; the vector's strings are reused between records (their capacity)
    auto next_field = [&] {
        if (fields.size() == n) fields.emplace_back();
        fields[n++].clear();
    };
    if (fields.empty()) fields.emplace_back();
    fields[0].clear();
    enum { field_start, unquoted, quoted, after_quote } state = field_start;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        switch (state) {
            case field_start:
                if (c == '"') {
                    state = quoted;
                    break;
                }
                state = unquoted;
                [[fallthrough]];
            case unquoted:
                if (c == ',') {
                    next_field();
                    state = field_start;
                } else {  // the run up to the next ',' at once; a '"' here is data
                    const std::size_t end = std::min(text.find(',', i), text.size());
                    fields[n - 1].append(text, i, end - i);
                    i = end - 1;
                }
                break;
            case quoted:
                if (c == '"') state = after_quote;
                else fields[n - 1] += c;
                break;
            case after_quote:
                if (c == '"') {  // "" inside quotes: one quote
                    fields[n - 1] += '"';
                    state = quoted;
                } else if (c == ',') {
                    next_field();
                    state = field_start;
                } else {
                    why = "text after a closing quote (field " + std::to_string(n) + ")";
                    return Split::malformed;
                }
                break;
        }
    }
    fields.resize(n);
    return state == quoted ? Split::open_quote : Split::complete;
}

std::string_view without_cr(const std::string& s) {
    return !s.empty() && s.back() == '\r' ? std::string_view(s).substr(0, s.size() - 1) : std::string_view(s);
}

}  // namespace

CsvSource::CsvSource(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw std::runtime_error(path + ": cannot open");
    SourceRecord header;
    if (!read_record(header)) throw std::runtime_error(path + ": empty file, expected a header line");
    std::string why;
    if (split_record(without_cr(header.raw), fields_, why) != Split::complete)
        throw std::runtime_error(path + ":" + std::to_string(header.line) + ": header: " + (why.empty() ? "unterminated quote" : why));
    header_fields_ = fields_.size();
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
        std::size_t found = fields_.size();
        for (std::size_t i = 0; i < fields_.size(); ++i) {
            if (fields_[i] != kColumns[c]) continue;
            if (found != fields_.size())
                throw std::runtime_error(path + ":" + std::to_string(header.line) + ": header names column " + kColumns[c] + " twice");
            found = i;
        }
        if (found == fields_.size())
            throw std::runtime_error(path + ":" + std::to_string(header.line) + ": header lacks column " + kColumns[c] +
                                     " (expected event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session in any order)");
        column_of_[c] = found;
    }
}

bool CsvSource::read_record(SourceRecord& out) {
    for (;;) {
        if (!std::getline(in_, out.raw)) {
            if (in_.bad()) throw std::runtime_error(path_ + ": read error after line " + std::to_string(line_));
            return false;
        }
        ++line_;
        if (line_ == 1 && out.raw.compare(0, 3, "\xEF\xBB\xBF") == 0) out.raw.erase(0, 3);  // byte order mark
        if (!out.raw.empty() && out.raw != "\r") break;
        ++blank_lines_;
    }
    out.line = line_;
    return true;
}

bool CsvSource::next(SourceRecord& out) {
    out.reject.reset();
    out.row.clear();
    if (!read_record(out)) return false;
    std::string why;
    Split split;
    // A quoted field may span lines: take the next physical line while a quote is open.
    while ((split = split_record(without_cr(out.raw), fields_, why)) == Split::open_quote) {
        if (!std::getline(in_, line_text_)) break;
        ++line_;
        out.raw += '\n';
        out.raw += line_text_;
    }
    if (!out.raw.empty() && out.raw.back() == '\r') out.raw.pop_back();
    if (!simdjson::validate_utf8(out.raw.data(), out.raw.size())) {
        out.reject = Reject{RejectReason::invalid_utf8, "the record is not valid UTF-8"};
        return true;
    }
    if (split == Split::open_quote) why = "a quoted field opened here is never closed";
    if (split != Split::complete) {
        out.reject = Reject{RejectReason::malformed_csv, why};
        return true;
    }
    if (fields_.size() != header_fields_) {
        out.reject = Reject{RejectReason::field_count,
                            std::to_string(fields_.size()) + " fields, the header has " + std::to_string(header_fields_)};
        return true;
    }
    CommerceRow& r = out.row;
    std::string* targets[] = {&r.event_time, &r.event_type, &r.product_id, &r.category_id, &r.category_code,
                              &r.brand,      &r.price,      &r.user_id,    &r.user_session};
    for (std::size_t c = 0; c < kColumns.size(); ++c) targets[c]->swap(fields_[column_of_[c]]);
    return true;
}

}  // namespace starstream::bench::loader
