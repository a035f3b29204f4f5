#include "pipeline/product_view/geo_locator.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

namespace starstream::daemon::product_view {

namespace {

std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> open_database(const std::string& path) {
    std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> db(GeoIP_open(path.c_str(), GEOIP_MEMORY_CACHE | GEOIP_SILENCE), &GeoIP_delete);
    if (!db) throw std::runtime_error("cannot open GeoIP database '" + path + "' (package geoip-database)");
    return db;
}

Country by_id(int id) {
    const char* code = GeoIP_code_by_id(id);
    // Ids 0 ("--"), and the pseudo-countries A1 (anonymous proxy), A2 (satellite), O1 (other),
    // AP/EU (continents) say nothing about a country.
    if (id <= 0 || !code || !*code || std::strcmp(code, "--") == 0 || std::strcmp(code, "A1") == 0 ||
        std::strcmp(code, "A2") == 0 || std::strcmp(code, "O1") == 0 || std::strcmp(code, "AP") == 0 || std::strcmp(code, "EU") == 0)
        return kUnknownCountry;
    return {code, GeoIP_name_by_id(id)};
}

}  // namespace

GeoLocator::GeoLocator(const std::string& v4_path, const std::string& v6_path)
    : v4_(open_database(v4_path)), v6_(open_database(v6_path)) {}

Country GeoLocator::country(std::uint8_t family, const std::uint8_t* address) const {
    if (family == 4) {
        std::uint32_t number = std::uint32_t(address[0]) << 24 | std::uint32_t(address[1]) << 16 | std::uint32_t(address[2]) << 8 | address[3];
        return by_id(GeoIP_id_by_ipnum(v4_.get(), number));
    }
    if (family == 6) {
        geoipv6_t v6;
        std::memcpy(&v6, address, 16);
        return by_id(GeoIP_id_by_ipnum_v6(v6_.get(), v6));
    }
    return kUnknownCountry;
}

std::uint8_t parse_ip(std::string_view text, std::uint8_t* out) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) return 0;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1) return 4;
    if (inet_pton(AF_INET6, buf, out) == 1) return 6;
    return 0;
}

}  // namespace starstream::daemon::product_view
