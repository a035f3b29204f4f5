#include "enrichment/reporting_calendar.h"

#include <date/tz.h>

#include <stdexcept>

namespace starstream::daemon::enrichment {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

ReportingCalendar::ReportingCalendar(const std::string& time_zone) : name_(time_zone) {
    try {
        zone_ = date::locate_zone(time_zone);
    } catch (const std::exception& e) {
        throw std::runtime_error("unknown time zone '" + time_zone + "' (an IANA name such as UTC or Europe/Berlin): " + e.what());
    }
}

DateHour ReportingCalendar::date_hour(std::int64_t unix_seconds) {
    const std::int64_t quarter = floor_div(unix_seconds, 900);
    if (quarter == cached_quarter_) return cached_;
    using namespace std::chrono;
    const auto local = zone_->to_local(sys_seconds{seconds{quarter * 900}});
    const auto day = floor<days>(local);
    const date::year_month_day ymd{day};
    cached_.date_key = int(ymd.year()) * 10000 + static_cast<int>(unsigned(ymd.month())) * 100 + static_cast<int>(unsigned(ymd.day()));
    cached_.hour = static_cast<std::int16_t>(duration_cast<hours>(local - day).count());
    cached_quarter_ = quarter;
    return cached_;
}

}  // namespace starstream::daemon::enrichment
