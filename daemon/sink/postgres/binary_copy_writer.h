// Encodes rows in PostgreSQL's binary COPY format (PostgreSQL docs, "COPY", "Binary Format"):
// an 11-byte signature, flags and extension length, then per row a 16-bit field count and per
// field a 32-bit length (-1 = NULL) and the value in the type's binary send format, big-endian.
// Thread rules: one thread.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace starstream::daemon::postgres {

class BinaryCopyWriter {
public:
    /// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
    static constexpr std::int64_t kPostgresEpochOffsetUs = 946684800LL * 1000000;

    BinaryCopyWriter() { reset(); }

    /// Starts a new stream (header only).
    void reset() {
        data_.clear();
        data_.append("PGCOPY\n\377\r\n\0", 11);
        put32(0);  // flags
        put32(0);  // header extension length
        rows_ = 0;
    }
    void begin_row(std::int16_t fields) {
        put16(static_cast<std::uint16_t>(fields));
        ++rows_;
    }
    void null() { put32(0xFFFFFFFFu); }
    void int2(std::int16_t v) { put32(2), put16(static_cast<std::uint16_t>(v)); }
    void int4(std::int32_t v) { put32(4), put32(static_cast<std::uint32_t>(v)); }
    void int8(std::int64_t v) { put32(8), put64(static_cast<std::uint64_t>(v)); }
    void text(std::string_view v) {
        put32(static_cast<std::uint32_t>(v.size()));
        data_.append(v);
    }
    void bytea(std::string_view v) { text(v); }
    void boolean(bool v) { put32(1), data_.push_back(v ? '\1' : '\0'); }
    void float8(double v) { put32(8), put64(std::bit_cast<std::uint64_t>(v)); }
    void uuid(const std::array<std::uint8_t, 16>& v) {
        put32(16);
        data_.append(reinterpret_cast<const char*>(v.data()), 16);
    }
    /// timestamptz from Unix microseconds.
    void timestamptz_us(std::int64_t unix_us) { int8(unix_us - kPostgresEpochOffsetUs); }
    /// inet: family 4 or 6, address bytes in network order (host address, full prefix).
    void inet(std::uint8_t family, const std::uint8_t* address) {
        const std::uint8_t n = family == 4 ? 4 : 16;
        put32(4u + n);
        data_.push_back(static_cast<char>(family == 4 ? 2 : 3));  // PGSQL_AF_INET / PGSQL_AF_INET6
        data_.push_back(static_cast<char>(n * 8));                // prefix bits
        data_.push_back(0);                                       // is_cidr
        data_.push_back(static_cast<char>(n));
        data_.append(reinterpret_cast<const char*>(address), n);
    }
    /// jsonb: version byte 1, then the JSON text.
    void jsonb(std::string_view json) {
        put32(static_cast<std::uint32_t>(json.size() + 1));
        data_.push_back(1);
        data_.append(json);
    }
    /// Ends the stream (trailer) and returns it.
    std::string_view finish() {
        put16(0xFFFF);
        return data_;
    }
    std::size_t rows() const { return rows_; }
    /// Bytes written so far (a mark for since() and drop_row()).
    std::size_t size() const { return data_.size(); }
    /// The bytes written after mark `from`: fields as sent, to compare.
    std::string_view since(std::size_t from) const { return std::string_view(data_).substr(from); }
    /// Drops the last row, begun (begin_row) at mark `from`: it is not sent.
    void drop_row(std::size_t from) {
        data_.resize(from);
        --rows_;
    }

private:
    void put16(std::uint16_t v) {
        v = to_big(v);
        data_.append(reinterpret_cast<const char*>(&v), 2);
    }
    void put32(std::uint32_t v) {
        v = to_big(v);
        data_.append(reinterpret_cast<const char*>(&v), 4);
    }
    void put64(std::uint64_t v) {
        v = to_big(v);
        data_.append(reinterpret_cast<const char*>(&v), 8);
    }
    template <typename T>
    static T to_big(T v) {
        if constexpr (std::endian::native == std::endian::little) {
            if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
            if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
            if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(v));
        }
        return v;
    }

    std::string data_;
    std::size_t rows_ = 0;
};

}  // namespace starstream::daemon::postgres
