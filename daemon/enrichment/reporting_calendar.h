// Event time -> the calendar analysts report in: the date key (dim_date, YYYYMMDD) and hour of
// day in one configured IANA time zone (`time.reporting_time_zone`, default UTC), from the
// system's tz database (/usr/share/zoneinfo, package tzdata) through Howard Hinnant's date/tz,
// the library C++20's std::chrono time zones were standardised from (libstdc++ 12 lacks them).
// Thread rules: one thread (date_hour() caches).
#pragma once

#include <cstdint>
#include <string>

namespace date {
class time_zone;
}

namespace starstream::daemon::enrichment {

struct DateHour {
    std::int32_t date_key = 0;  ///< local date as YYYYMMDD
    std::int16_t hour = 0;      ///< local hour 0..23
};

class ReportingCalendar {
public:
    /// Throws std::runtime_error naming `time_zone` when the tz database does not know it.
    explicit ReportingCalendar(const std::string& time_zone = "UTC");

    /// Local date and hour of a Unix time in seconds. Every UTC offset in use is a multiple of
    /// 15 minutes, so a quarter hour maps to one local date and hour: the last one is cached.
    DateHour date_hour(std::int64_t unix_seconds);
    const std::string& time_zone() const { return name_; }

private:
    std::string name_;
    const date::time_zone* zone_;
    std::int64_t cached_quarter_ = INT64_MIN;
    DateHour cached_{};
};

}  // namespace starstream::daemon::enrichment
