// IP address -> country, from the geoip-database package's GeoIP.dat / GeoIPv6.dat (libGeoIP).
// Private, reserved, malformed and unknown addresses map to the explicit unknown member
// ("ZZ", "Unknown"), never to NULL. Thread rules: one thread (libGeoIP handles are not shared).
#pragma once

#include <GeoIP.h>

#include <memory>
#include <string>
#include <string_view>

namespace starstream::daemon::product_view {

struct Country {
    const char* code;  ///< ISO 3166 alpha-2, "ZZ" when unknown
    const char* name;
};

inline constexpr Country kUnknownCountry{"ZZ", "Unknown"};

class GeoLocator {
public:
    /// Opens both databases into memory. Throws std::runtime_error naming a file that cannot be opened.
    GeoLocator(const std::string& v4_path, const std::string& v6_path);
    /// The country of an address given as raw bytes (`family` 4 or 6, network byte order).
    Country country(std::uint8_t family, const std::uint8_t* address) const;

private:
    std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> v4_, v6_;
};

/// Parses an IPv4 or IPv6 text address into `out` (network byte order); returns 4, 6, or 0 if invalid.
std::uint8_t parse_ip(std::string_view text, std::uint8_t* out);

}  // namespace starstream::daemon::product_view
