#include "window/window_state_codec.h"

#include <cstring>
#include <stdexcept>

namespace starstream::engine {

namespace {

constexpr std::string_view kMagic = "SSW\x02";

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u64(std::uint64_t v) {
        while (v >= 0x80) out_.push_back(static_cast<char>((v & 0x7F) | 0x80)), v >>= 7;
        out_.push_back(static_cast<char>(v));
    }
    void i64(std::int64_t v) { u64((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63)); }  // zig-zag
    void f64(double v) {
        char bytes[8];
        std::memcpy(bytes, &v, 8);
        out_.append(bytes, 8);
    }
    void str(std::string_view s) { u64(s.size()), out_.append(s); }

private:
    std::string& out_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const auto byte = static_cast<std::uint8_t>(take(1)[0]);
            v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
            if (!(byte & 0x80)) return v;
        }
        throw std::invalid_argument("malformed window state: varint too long");
    }
    std::int64_t i64() {
        const std::uint64_t v = u64();
        return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
    }
    double f64() {
        double v;
        std::memcpy(&v, take(8).data(), 8);
        return v;
    }
    std::string str() { return std::string(take(u64())); }
    std::string_view take(std::uint64_t n) {
        if (n > in_.size()) throw std::invalid_argument("malformed window state: truncated");
        auto part = in_.substr(0, n);
        in_.remove_prefix(n);
        return part;
    }
    bool done() const { return in_.empty(); }

private:
    std::string_view in_;
};

void write_aggregates(Writer& w, const AggregateState& a) {
    w.u64(a.count);
    if (!a.count) return;  // min/max/first/last are only defined once something was added
    w.f64(a.sum), w.f64(a.min), w.f64(a.max);
    w.i64(a.first_time_us), w.f64(a.first_value), w.str(a.first_label);
    w.i64(a.last_time_us), w.f64(a.last_value), w.str(a.last_label);
    w.u64(a.distinct.size());
    for (const auto& d : a.distinct) w.str(d);
}

AggregateState read_aggregates(Reader& r) {
    AggregateState a;
    a.count = r.u64();
    if (!a.count) return a;
    a.sum = r.f64(), a.min = r.f64(), a.max = r.f64();
    a.first_time_us = r.i64(), a.first_value = r.f64(), a.first_label = r.str();
    a.last_time_us = r.i64(), a.last_value = r.f64(), a.last_label = r.str();
    for (std::uint64_t n = r.u64(); n > 0; --n) a.distinct.insert(a.distinct.end(), r.str());  // written in order
    return a;
}

void write_window(Writer& w, const std::string& key, const Window& window) { w.str(key), w.i64(window.start_us), w.i64(window.end_us); }

}  // namespace

std::string encode_state(const WindowOperator::State& state) {
    std::string out(kMagic);
    Writer w(out);
    w.i64(state.watermark_us);
    w.u64(state.late_dropped), w.u64(state.late_dead_lettered), w.u64(state.late_corrected), w.u64(state.too_late);
    w.u64(state.windows.size());
    for (const auto& [id, s] : state.windows) {
        write_window(w, id.first, id.second);
        write_aggregates(w, s.aggregates);
        w.u64(s.revision), w.u64((s.is_final ? 1u : 0u) | (s.changed ? 2u : 0u));
    }
    w.u64(state.retractions.size());
    for (const auto& r : state.retractions) {
        write_window(w, r.key, r.window);
        write_aggregates(w, r.aggregates);
        w.u64(r.revision), w.u64(r.is_final ? 1u : 0u);
    }
    return out;
}

WindowOperator::State decode_state(std::string_view bytes) {
    if (bytes.substr(0, kMagic.size()) != kMagic) throw std::invalid_argument("malformed window state: not a version 2 window state");
    Reader r(bytes.substr(kMagic.size()));
    WindowOperator::State state;
    state.watermark_us = r.i64();
    state.late_dropped = r.u64(), state.late_dead_lettered = r.u64(), state.late_corrected = r.u64(), state.too_late = r.u64();
    for (std::uint64_t n = r.u64(); n > 0; --n) {
        std::string key = r.str();
        const Window window{r.i64(), r.i64()};
        WindowOperator::WindowState s;
        s.aggregates = read_aggregates(r);
        s.revision = static_cast<std::uint32_t>(r.u64());
        const auto flags = r.u64();
        s.is_final = flags & 1u, s.changed = flags & 2u;
        state.windows.emplace_hint(state.windows.end(), std::make_pair(std::move(key), window), std::move(s));  // written in order
    }
    for (std::uint64_t n = r.u64(); n > 0; --n) {
        WindowRow row;
        row.key = r.str();
        row.window = {r.i64(), r.i64()};
        row.aggregates = read_aggregates(r);
        row.revision = static_cast<std::uint32_t>(r.u64());
        row.is_final = r.u64() & 1u;
        row.retracted = true;
        state.retractions.push_back(std::move(row));
    }
    if (!r.done()) throw std::invalid_argument("malformed window state: trailing bytes");
    return state;
}

}  // namespace starstream::engine
