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

const UserAgent& Enrichment::user_agent(std::int64_t key, std::string_view header) {
    if (auto it = user_agent_cache_.find(key); it != user_agent_cache_.end()) {
        ++user_agent_cache.hits;
        return it->second;
    }
    ++user_agent_cache.misses;
    if (user_agent_cache_.size() >= cache_capacity_) user_agent_cache_.clear();
    return user_agent_cache_.emplace(key, user_agents.parse(header)).first->second;
}

const DomainParts& Enrichment::domain_parts(const std::string& host) {
    if (auto it = domain_cache_.find(host); it != domain_cache_.end()) {
        ++domain_cache.hits;
        return it->second;
    }
    ++domain_cache.misses;
    if (domain_cache_.size() >= cache_capacity_) domain_cache_.clear();
    return domain_cache_.emplace(host, web.domain_parts(host)).first->second;
}

}  // namespace starstream::daemon::enrichment
