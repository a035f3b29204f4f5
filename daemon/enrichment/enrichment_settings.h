// Where the enrichment's reference data comes from: configuration keys enrichment.* and
// time.reporting_time_zone (config/starstreamd.conf.example documents them).
#pragma once

#include <cstddef>
#include <string>

namespace starstream::daemon::enrichment {

struct EnrichmentSettings {
    std::string geoip_country_v4 = "/usr/share/GeoIP/GeoIP.dat";    ///< package geoip-database
    std::string geoip_country_v6 = "/usr/share/GeoIP/GeoIPv6.dat";
    std::string city_database;                                      ///< a .mmdb (GeoLite2-City, DB-IP City Lite); "" = no region or city
    std::string user_agent_regexes = "/usr/share/uap-core/regexes.yaml";  ///< package uap-core, or a newer copy
    std::size_t user_agent_cache_entries = 100000;                  ///< parsed headers kept (about 1 KiB each)
    std::string reporting_time_zone = "UTC";                        ///< IANA zone of date_key and hour
};

}  // namespace starstream::daemon::enrichment
