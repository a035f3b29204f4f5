#include "spec/enricher_catalog.h"

namespace starstream::daemon::spec {

const std::vector<EnricherFunction>& enricher_catalog() {
    static const std::vector<EnricherFunction> catalog = {
        {"user_agent", {"a User-Agent header"},
         {"browser_family", "browser_version", "os_family", "os_version", "device_family", "device_brand", "device_model", "device_type", "is_bot"},
         false, "uap-core regexes.yaml (enrichment.uap_regexes)"},
        {"ip_geography", {"an IPv4 or IPv6 address"}, {"country_code", "country_name", "region", "city"}, false,
         "GeoIP country databases, optionally a MaxMind city database (enrichment.geoip_*)"},
        {"registrable_domain", {"a URL"}, {"host", "domain"}, false, "the Public Suffix List (libpsl)"},
        {"referrer_channel", {"the referrer URL", "the page URL"}, {"domain", "channel"}, false, "daemon/enrichment/referrer_channel.h rules"},
        {"canonical_url", {"a URL"}, {"url"}, false, "scheme and host lower-cased, no query string or fragment"},
        {"calendar", {"an event time"}, {"date_key", "hour"}, true, "the reporting time zone (time.reporting_time_zone)"},
    };
    return catalog;
}

const EnricherFunction* find_enricher(std::string_view name) {
    for (const auto& f : enricher_catalog())
        if (f.name == name) return &f;
    return nullptr;
}

std::string enricher_names() {
    std::string names;
    for (const auto& f : enricher_catalog()) names += (names.empty() ? "" : ", ") + std::string(f.name);
    return names;
}

}  // namespace starstream::daemon::spec
