#include "event_id.h"

#include <xxhash.h>

namespace starstream::bench::loader {

namespace {

void append_netstring(std::string& out, const std::string& field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ',';
}

}  // namespace

void event_id(const CommerceEvent& event, std::string& out) {
    const CommerceRow& r = *event.row;
    const std::string time = std::to_string(event.epoch_seconds);
    thread_local std::string normalized;  // its buffer is reused from event to event
    normalized.clear();
    for (const std::string* field : {&time, &r.event_type, &r.product_id, &r.category_id, &r.category_code, &r.brand, &event.price,
                                     &r.user_id, &r.user_session})
        append_netstring(normalized, *field);

    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(normalized.data(), normalized.size()));
    unsigned char* b = canonical.digest;
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x80);  // version 8: custom
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10: RFC 9562
    static const char hex[] = "0123456789abcdef";
    out.clear();
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += hex[b[i] >> 4];
        out += hex[b[i] & 0x0f];
    }
}

}  // namespace starstream::bench::loader
