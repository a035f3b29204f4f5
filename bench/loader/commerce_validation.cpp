#include "commerce_validation.h"

#include "spec/content_id.h"

#include <chrono>

namespace starstream::bench::loader {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// The number in text[at, at + n), all digits, else -1.
int digits(const std::string& text, std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (!is_digit(text[i])) return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v;
}

/// Why `text` is not a valid price, or nothing; `canonical` gets its canonical decimal.
std::optional<Reject> check_price(const std::string& text, std::string& canonical) {
    const bool negative = !text.empty() && text[0] == '-';
    const std::size_t start = negative ? 1 : 0;
    const std::size_t point = text.find('.', start);
    const std::size_t int_end = point == std::string::npos ? text.size() : point;
    bool ok = int_end > start && (point == std::string::npos || point + 1 < text.size());
    for (std::size_t i = start; ok && i < text.size(); ++i) ok = i == point || is_digit(text[i]);
    if (!ok) return Reject{RejectReason::bad_price, "price " + text + ": expected a decimal such as 31.90"};
    const std::string magnitude = daemon::spec::content_id::canonical_decimal(std::string_view(text).substr(start));
    const std::size_t significant = magnitude.size() - (magnitude.find('.') == std::string::npos ? 0 : 1) - (magnitude[0] == '0' ? 1 : 0);
    if (significant > 15)
        return Reject{RejectReason::bad_price, "price " + text + ": more than 15 digits (a JSON number would not keep it)"};
    const bool zero = magnitude == "0";
    if (negative && !zero) return Reject{RejectReason::negative_price, "price " + text + " is negative"};
    canonical = magnitude;
    return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> parse_event_time(const std::string& text) {
    // "YYYY-MM-DD?HH:MM:SS" at fixed positions; the separator and what follows tell the form.
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return std::nullopt;
    std::int64_t fraction_us = 0;
    if (text[10] == ' ') {
        if (text.compare(19, std::string::npos, " UTC") != 0) return std::nullopt;
    } else if (text[10] == 'T') {
        std::size_t at = 19;
        if (text[at] == '.') {  // 1 to 6 digits: what Python (6), pandas and JavaScript (3) write
            std::size_t digits_seen = 0;
            for (++at; at < text.size() && is_digit(text[at]) && digits_seen < 6; ++at, ++digits_seen)
                fraction_us = fraction_us * 10 + (text[at] - '0');
            if (digits_seen == 0) return std::nullopt;
            for (std::size_t pad = digits_seen; pad < 6; ++pad) fraction_us *= 10;
        }
        const std::string zone = text.substr(at);
        if (zone != "Z" && zone != "+00:00" && zone != "+0000") return std::nullopt;  // UTC only (EVENTS.md)
    } else {
        return std::nullopt;
    }
    const int y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
    const int h = digits(text, 11, 2), mi = digits(text, 14, 2), s = digits(text, 17, 2);
    // Year 0000 is no calendar year (ISO 8601 needs an agreement for it; Python's datetime and
    // PostgreSQL's timestamptz AD years start at 1), so it is no event time.
    if (y < 1 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{unsigned(mo)}, std::chrono::day{unsigned(d)}};
    if (!date.ok()) return std::nullopt;
    const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
    return (days * 86400 + h * 3600 + mi * 60 + s) * 1'000'000 + fraction_us;
}

std::string format_iso8601(std::int64_t epoch_us) {
    const std::int64_t epoch_seconds = epoch_us >= 0 ? epoch_us / 1'000'000 : (epoch_us - 999'999) / 1'000'000;
    const std::int64_t micros = epoch_us - epoch_seconds * 1'000'000;
    const std::int64_t days = epoch_seconds >= 0 ? epoch_seconds / 86400 : (epoch_seconds - 86399) / 86400;
    const std::int64_t second_of_day = epoch_seconds - days * 86400;
    const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
    // By hand rather than snprintf: this runs once per event sent.
    std::string out = micros ? "0000-00-00T00:00:00.000000Z" : "0000-00-00T00:00:00Z";
    auto put = [&out](std::size_t at, unsigned value, int width) {
        for (int i = width - 1; i >= 0; --i, value /= 10) out[at + std::size_t(i)] = char('0' + value % 10);
    };
    put(0, unsigned(int(date.year())), 4);
    put(5, unsigned(date.month()), 2);
    put(8, unsigned(date.day()), 2);
    put(11, unsigned(second_of_day / 3600), 2);
    put(14, unsigned(second_of_day / 60 % 60), 2);
    put(17, unsigned(second_of_day % 60), 2);
    if (micros) put(20, unsigned(micros), 6);
    return out;
}

std::optional<Reject> validate(const CommerceRow& row, CommerceEvent& out) {
    struct Required {
        const std::string* value;
        const char* name;
        RejectReason reason;
    };
    const Required required[] = {{&row.event_time, "event_time", RejectReason::missing_event_time},
                                 {&row.event_type, "event_type", RejectReason::missing_event_type},
                                 {&row.product_id, "product_id", RejectReason::missing_product_id},
                                 {&row.user_id, "user_id", RejectReason::missing_user_id},
                                 {&row.user_session, "user_session", RejectReason::missing_user_session}};
    for (const Required& r : required)
        if (r.value->find_first_not_of(" \t") == std::string::npos)
            return Reject{r.reason, std::string(r.name) + " is required (empty, blank, null or absent)"};
    const std::string& t = row.event_type;
    if (t != "view" && t != "cart" && t != "remove_from_cart" && t != "purchase")
        return Reject{RejectReason::unknown_event_type, "event_type " + t + ": expected view, cart, remove_from_cart or purchase"};
    const std::optional<std::int64_t> time = parse_event_time(row.event_time);
    if (!time)
        return Reject{RejectReason::bad_event_time, "event_time " + row.event_time + ": expected YYYY-MM-DD HH:MM:SS UTC or ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff], then Z or +00:00)"};
    out.price.clear();
    if (!row.price.empty())
        if (auto reject = check_price(row.price, out.price)) return reject;
    out.row = &row;
    out.epoch_us = *time;
    return std::nullopt;
}

}  // namespace starstream::bench::loader
