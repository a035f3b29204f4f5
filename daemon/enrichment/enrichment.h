// Everything the pipeline looks up to turn an event into dimension members: geography, user
// agents (parsed once per distinct header, then cached), web addresses and the reporting
// calendar, built from the `enrichment.*` and `time.reporting_time_zone` configuration keys.
// Thread rules: one thread (the consume thread); caches are not synchronised.
#pragma once

#include "enrichment/enrichment_settings.h"
#include "enrichment/geo_locator.h"
#include "enrichment/reporting_calendar.h"
#include "enrichment/user_agent_parser.h"
#include "enrichment/web_address.h"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace starstream::daemon::enrichment {

class Enrichment {
public:
    /// Opens and compiles every reference source. Throws ConfigError naming the configuration
    /// key whose file or time zone cannot be used.
    explicit Enrichment(const EnrichmentSettings& settings);

    /// The parse of a User-Agent header; `key` is its surrogate key (a hash of the header). A
    /// full cache is emptied rather than grown, which bounds memory at about 1 KiB per entry.
    const UserAgent& user_agent(std::int64_t key, std::string_view header);

    /// The domain parts of a lower-case host, cached the same way (Public Suffix List lookups
    /// were a third of this stage's time; a clickstream has few distinct hosts).
    const DomainParts& domain_parts(const std::string& host);

    GeoLocator geo;
    UserAgentParser user_agents;
    WebAddress web;
    ReportingCalendar calendar;

    /// Lookups per cache since start (same thread rules: the consume thread publishes them).
    struct CacheCounts {
        std::uint64_t hits = 0, misses = 0;
    };
    CacheCounts user_agent_cache, domain_cache;

private:
    std::size_t cache_capacity_;
    std::unordered_map<std::int64_t, UserAgent> user_agent_cache_;
    std::unordered_map<std::string, DomainParts> domain_cache_;
};

}  // namespace starstream::daemon::enrichment
