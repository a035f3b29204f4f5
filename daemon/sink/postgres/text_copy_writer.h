// Encodes rows in PostgreSQL's text COPY format (PostgreSQL docs, "COPY", "Text Format"): per
// row, fields separated by a tab and ended by a newline; NULL is \N; a backslash, tab, newline
// or carriage return inside a value is escaped with a backslash. Each value is read by its
// column type's input function, as a `'...'::type` cast reads it, so a value Postgres refuses
// is a data error of the COPY (pinned to its record by bisection) and one encoder serves every
// type. Binary COPY (binary_copy_writer.h) is cheaper where the caller knows each column's binary form.
// Thread rules: one thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace starstream::daemon::postgres {

class TextCopyWriter {
public:
    /// Starts a new stream.
    void reset() { data_.clear(), rows_ = 0, first_ = true; }
    void begin_row() {
        if (rows_++) data_.push_back('\n');
        first_ = true;
    }
    void null() { separate(), data_.append("\\N", 2); }
    /// A value in its type's input syntax (no NUL byte: no PostgreSQL value holds one).
    void value(std::string_view v) {
        separate();
        for (const char c : v) {
            switch (c) {
                case '\\': data_.append("\\\\", 2); break;
                case '\t': data_.append("\\t", 2); break;
                case '\n': data_.append("\\n", 2); break;
                case '\r': data_.append("\\r", 2); break;
                default: data_.push_back(c);
            }
        }
    }
    /// Ends the stream and returns it.
    std::string_view finish() {
        if (rows_) data_.push_back('\n');
        return data_;
    }
    std::size_t rows() const { return rows_; }

private:
    void separate() {
        if (!first_) data_.push_back('\t');
        first_ = false;
    }
    std::string data_;
    std::size_t rows_ = 0;
    bool first_ = true;
};

}  // namespace starstream::daemon::postgres
