#include "enrichment/reporting_calendar.h"

#include <gtest/gtest.h>

using starstream::daemon::enrichment::ReportingCalendar;

TEST(ReportingCalendar, UtcDatesAndHours) {
    ReportingCalendar utc;
    EXPECT_EQ(utc.date_hour(1588500123).date_key, 20200503);  // 2020-05-03 10:02:03 UTC
    EXPECT_EQ(utc.date_hour(1588500123).hour, 10);
    EXPECT_EQ(utc.date_hour(0).date_key, 19700101);
    EXPECT_EQ(utc.date_hour(-1).date_key, 19691231);
    EXPECT_EQ(utc.date_hour(-1).hour, 23);
}

TEST(ReportingCalendar, LocalDatesFollowTheZoneAndItsDaylightSaving) {
    ReportingCalendar berlin("Europe/Berlin");
    EXPECT_EQ(berlin.date_hour(1588500123).hour, 12);           // CEST, UTC+2
    EXPECT_EQ(berlin.date_hour(1577833200).date_key, 20200101);  // 2019-12-31 23:00 UTC is New Year in Berlin (UTC+1)
    EXPECT_EQ(berlin.date_hour(1577833200).hour, 0);
    ReportingCalendar kolkata("Asia/Kolkata");                    // UTC+5:30: hours start at :30 UTC
    EXPECT_EQ(kolkata.date_hour(1588500123).hour, 15);            // 10:02 UTC = 15:32
    EXPECT_EQ(kolkata.date_hour(1588500123 - 3 * 60).hour, 15);   // 09:59 UTC = 15:29
    EXPECT_EQ(kolkata.date_hour(1588500123 - 33 * 60).hour, 14);  // 09:29 UTC = 14:59
}

TEST(ReportingCalendar, UnknownZoneIsAClearError) {
    try {
        ReportingCalendar c("Mars/Olympus_Mons");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("Mars/Olympus_Mons"), std::string::npos);
    }
}
