// Just enough of the Kafka wire protocol (https://kafka.apache.org/protocol) for the test
// gateway: big-endian integers, strings, and a cursor over a message that can copy what it does
// not need to understand. Thread rules: value types.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace starstream::test_support::wire {

class Reader {
public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    std::int16_t i16() { return static_cast<std::int16_t>(be(2)); }
    std::int32_t i32() { return static_cast<std::int32_t>(be(4)); }
    std::int64_t i64() { return static_cast<std::int64_t>(be(8)); }
    std::uint64_t uvarint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const auto b = static_cast<std::uint8_t>(take(1)[0]);
            v |= std::uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        throw std::runtime_error("varint too long");
    }
    std::string string() { return std::string(take(static_cast<std::size_t>(i16()))); }
    std::optional<std::string> nullable_string() {
        const auto n = i16();
        if (n < 0) return std::nullopt;
        return std::string(take(static_cast<std::size_t>(n)));
    }
    std::string bytes() { return std::string(take(static_cast<std::size_t>(i32()))); }
    std::string_view take(std::size_t n) {
        if (n > bytes_.size() - at_) throw std::runtime_error("truncated Kafka message");
        auto part = bytes_.substr(at_, n);
        at_ += n;
        return part;
    }
    std::string_view rest() const { return bytes_.substr(at_); }

private:
    std::uint64_t be(std::size_t n) {
        std::uint64_t v = 0;
        for (char c : take(n)) v = v << 8 | static_cast<std::uint8_t>(c);
        return v;
    }
    std::string_view bytes_;
    std::size_t at_ = 0;
};

class Writer {
public:
    void i16(std::int16_t v) { be(static_cast<std::uint16_t>(v), 2); }
    void i32(std::int32_t v) { be(static_cast<std::uint32_t>(v), 4); }
    void i64(std::int64_t v) { be(static_cast<std::uint64_t>(v), 8); }
    void uvarint(std::uint64_t v) {
        while (v >= 0x80) out_.push_back(static_cast<char>((v & 0x7F) | 0x80)), v >>= 7;
        out_.push_back(static_cast<char>(v));
    }
    void string(std::string_view s) { i16(static_cast<std::int16_t>(s.size())), out_.append(s); }
    void nullable_string(const std::optional<std::string>& s) { s ? string(*s) : i16(-1); }
    void bytes(std::string_view s) { i32(static_cast<std::int32_t>(s.size())), out_.append(s); }
    void raw(std::string_view s) { out_.append(s); }
    /// The message with its 4-byte size prefix.
    std::string framed() const {
        Writer w;
        w.i32(static_cast<std::int32_t>(out_.size()));
        return w.out_ + out_;
    }
    const std::string& body() const { return out_; }

private:
    void be(std::uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    std::string out_;
};

}  // namespace starstream::test_support::wire
