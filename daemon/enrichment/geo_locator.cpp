#include "enrichment/geo_locator.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace starstream::daemon::enrichment {

namespace {

std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> open_database(const std::string& path) {
    std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> db(GeoIP_open(path.c_str(), GEOIP_MEMORY_CACHE | GEOIP_SILENCE), &GeoIP_delete);
    if (!db) throw std::runtime_error("cannot open GeoIP database '" + path + "' (package geoip-database)");
    return db;
}

Location by_id(int id) {
    const char* code = GeoIP_code_by_id(id);
    // Ids 0 ("--"), and the pseudo-countries A1 (anonymous proxy), A2 (satellite), O1 (other),
    // AP/EU (continents) say nothing about a country.
    if (id <= 0 || !code || !*code || std::strcmp(code, "--") == 0 || std::strcmp(code, "A1") == 0 ||
        std::strcmp(code, "A2") == 0 || std::strcmp(code, "O1") == 0 || std::strcmp(code, "AP") == 0 || std::strcmp(code, "EU") == 0)
        return {"ZZ", "Unknown", {}, {}};
    return {code, GeoIP_name_by_id(id), {}, {}};
}

/// A UTF-8 string at `path` in an mmdb entry, or "" when absent.
template <typename... Path>
std::string mmdb_string(MMDB_entry_s* entry, Path... path) {
    MMDB_entry_data_s data;
    if (MMDB_get_value(entry, &data, path..., nullptr) != MMDB_SUCCESS || !data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING) return "";
    return std::string(data.utf8_string, data.data_size);
}

}  // namespace

GeoLocator::GeoLocator(const std::string& v4_path, const std::string& v6_path, const std::string& city_mmdb_path)
    : v4_(open_database(v4_path)), v6_(open_database(v6_path)) {
    if (city_mmdb_path.empty()) return;
    city_ = std::make_unique<MMDB_s>();
    if (int status = MMDB_open(city_mmdb_path.c_str(), MMDB_MODE_MMAP, city_.get()); status != MMDB_SUCCESS) {
        city_.reset();
        throw std::runtime_error("cannot open city database '" + city_mmdb_path + "': " + MMDB_strerror(status));
    }
}

GeoLocator::~GeoLocator() {
    if (city_) MMDB_close(city_.get());
}

Location GeoLocator::locate(std::uint8_t family, const std::uint8_t* address) const {
    Location location{"ZZ", "Unknown", {}, {}};
    if (family == 4) {
        std::uint32_t number = std::uint32_t(address[0]) << 24 | std::uint32_t(address[1]) << 16 | std::uint32_t(address[2]) << 8 | address[3];
        location = by_id(GeoIP_id_by_ipnum(v4_.get(), number));
    } else if (family == 6) {
        geoipv6_t v6;
        std::memcpy(&v6, address, 16);
        location = by_id(GeoIP_id_by_ipnum_v6(v6_.get(), v6));
    }
    if (city_ && std::strcmp(location.country_code, "ZZ") != 0) add_city(family, address, location);
    return location;
}

void GeoLocator::add_city(std::uint8_t family, const std::uint8_t* address, Location& location) const {
    sockaddr_storage storage{};
    if (family == 4) {
        auto* in = reinterpret_cast<sockaddr_in*>(&storage);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, address, 4);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        std::memcpy(&in6->sin6_addr, address, 16);
    }
    int error = 0;
    MMDB_lookup_result_s result = MMDB_lookup_sockaddr(city_.get(), reinterpret_cast<sockaddr*>(&storage), &error);
    if (error != MMDB_SUCCESS || !result.found_entry) return;
    // Another source's country for this address: keep GeoIP's country and leave the city out.
    const std::string country = mmdb_string(&result.entry, "country", "iso_code");
    if (!country.empty() && country != location.country_code) return;
    location.region = mmdb_string(&result.entry, "subdivisions", "0", "names", "en");
    location.city = mmdb_string(&result.entry, "city", "names", "en");
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

}  // namespace starstream::daemon::enrichment
