// IP address -> geography (country, region, city).
// Country code and name come from the geoip-database package's GeoIP.dat / GeoIPv6.dat
// (libGeoIP). Region and city come from a MaxMind-format city database (GeoLite2-City, DB-IP
// City Lite; read with libmaxminddb) when one is configured, and only when its country agrees
// with GeoIP's, so that a member never mixes two sources' opinions.
// Private, reserved, malformed and unknown addresses map to the explicit unknown member
// ("ZZ", "Unknown", "", ""), never to NULL.
// Thread rules: lookups are const and touch no shared mutable state, but libGeoIP handles are
// not documented as thread-safe: one GeoLocator per thread.
#pragma once

#include <GeoIP.h>
#include <maxminddb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace starstream::daemon::enrichment {

struct Location {
    const char* country_code;  ///< ISO 3166 alpha-2, "ZZ" when unknown (static storage)
    const char* country_name;  ///< English name, "Unknown" when unknown (static storage)
    std::string region;        ///< first subdivision's English name, "" without a city database
    std::string city;          ///< English name, "" without a city database
};

class GeoLocator {
public:
    /// Opens the country databases (into memory) and, when `city_mmdb_path` is not empty, the
    /// city database (memory-mapped). Throws std::runtime_error naming a file that cannot be opened.
    GeoLocator(const std::string& v4_path, const std::string& v6_path, const std::string& city_mmdb_path = "");
    ~GeoLocator();
    GeoLocator(const GeoLocator&) = delete;
    GeoLocator& operator=(const GeoLocator&) = delete;

    /// The location of an address given as raw bytes (`family` 4 or 6, network byte order;
    /// any other family is unknown).
    Location locate(std::uint8_t family, const std::uint8_t* address) const;
    bool has_city_database() const { return city_ != nullptr; }

private:
    void add_city(std::uint8_t family, const std::uint8_t* address, Location& location) const;

    std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> v4_, v6_;
    std::unique_ptr<MMDB_s> city_;
};

/// Parses an IPv4 or IPv6 text address into `out` (16 bytes, network byte order); returns 4,
/// 6, or 0 if invalid.
std::uint8_t parse_ip(std::string_view text, std::uint8_t* out);

}  // namespace starstream::daemon::enrichment
