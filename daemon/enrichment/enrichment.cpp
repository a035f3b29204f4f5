#include "enrichment/enrichment.h"

#include "config/config.h"

namespace starstream::daemon::enrichment {

namespace {

/// Constructs a T from `args`, turning its error into a ConfigError that names `key`.
template <typename T, typename... Args>
T open(const char* key, const Args&... args) {
    try {
        return T(args...);
    } catch (const std::exception& e) {
        throw ConfigError(key, e.what());
    }
}

/// The key of the geography file GeoLocator could not open (its message names the file).
const char* geo_key(const EnrichmentSettings& s, const std::string& message) {
    if (message.find("'" + s.geoip_country_v4 + "'") != std::string::npos) return "enrichment.geoip_country_v4";
    if (message.find("'" + s.geoip_country_v6 + "'") != std::string::npos) return "enrichment.geoip_country_v6";
    return "enrichment.city_database";
}

GeoLocator open_geo(const EnrichmentSettings& s) {
    try {
        return GeoLocator(s.geoip_country_v4, s.geoip_country_v6, s.city_database);
    } catch (const std::exception& e) {
        throw ConfigError(geo_key(s, e.what()), e.what());
    }
}

}  // namespace

Enrichment::Enrichment(const EnrichmentSettings& s)
    : geo(open_geo(s)),
      user_agents(open<UserAgentParser>("enrichment.user_agent_regexes", s.user_agent_regexes)),
      calendar(open<ReportingCalendar>("time.reporting_time_zone", s.reporting_time_zone)),
      cache_capacity_(s.user_agent_cache_entries) {}

namespace {

/// The cached value of `key`, made by `make()` on a miss. A full cache is emptied rather than
/// grown: memory stays bounded and the hot set refills within a batch.
template <typename Map, typename Make>
const typename Map::mapped_type& cached(Map& cache, const typename Map::key_type& key, Enrichment::CacheCounts& counts, std::size_t capacity,
                                        Make make) {
    if (auto it = cache.find(key); it != cache.end()) {
        ++counts.hits;
        return it->second;
    }
    ++counts.misses;
    if (cache.size() >= capacity) cache.clear();
    return cache.emplace(key, make()).first->second;
}

}  // namespace

const UserAgent& Enrichment::user_agent(std::int64_t key, std::string_view header) {
    return cached(user_agent_cache_, key, user_agent_cache, cache_capacity_, [&] { return user_agents.parse(header); });
}

const DomainParts& Enrichment::domain_parts(const std::string& host) {
    return cached(domain_cache_, host, domain_cache, cache_capacity_, [&] { return web.domain_parts(host); });
}

}  // namespace starstream::daemon::enrichment
