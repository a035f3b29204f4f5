#include "spec/enricher_catalog.h"

#include <fmt/format.h>

namespace starstream::daemon::spec {

const std::vector<EnricherFunction>& enricher_catalog() {
    static const std::vector<EnricherFunction> catalog = {
        {"user_agent", {"a User-Agent header"},
         {{"browser_family"}, {"browser_version"}, {"os_family"}, {"os_version"}, {"device_family"}, {"device_brand"}, {"device_model"},
          {"device_type"}, {"is_bot", "boolean"}},
         false, "uap-core regexes.yaml (enrichment.uap_regexes)"},
        {"ip_geography", {"an IPv4 or IPv6 address"}, {{"country_code", "text", true}, {"country_name", "text", true}, {"region", "text", true}, {"city", "text", true}}, false,
         "GeoIP country databases, optionally a MaxMind city database (enrichment.geoip_*)"},
        {"registrable_domain", {"a URL"}, {{"host"}, {"domain"}, {"country_code"}}, false,
         "the Public Suffix List (libpsl); country_code: the domain's ccTLD as ISO 3166 alpha-2 (.uk -> GB), null for generic TLDs"},
        {"referrer_channel", {"the referrer URL", "the page URL"}, {{"domain", "text", true}, {"channel", "text", true}}, false, "daemon/enrichment/referrer_channel.h rules"},
        {"canonical_url", {"a URL"}, {{"url"}}, false, "scheme and host lower-cased, no query string or fragment"},
        {"calendar", {"an event time"}, {{"date_key", "integer"}, {"hour", "smallint"}}, true, "the reporting time zone (time.reporting_time_zone)"},
        {"record_origin", {}, {{"topic", "text", true}, {"partition", "integer", true}, {"offset", "bigint", true}}, false,
         "where the record was read: Kafka topic, partition, offset (lineage)"},
        {"taxonomy_levels", {"a dotted category code"}, {{"category_code", "text", true}, {"level1"}, {"level2"}, {"level3"}}, false,
         "the code ('' when absent: a group key every event has) split at its dots; level3 keeps any deeper levels"},
    };
    return catalog;
}

const EnricherFunction* find_enricher(std::string_view name) {
    for (const auto& f : enricher_catalog())
        if (f.name == name) return &f;
    return nullptr;
}

const EnricherOutput* find_output(const EnricherFunction& function, std::string_view name) {
    for (const auto& o : function.outputs)
        if (o.name == name) return &o;
    return nullptr;
}

std::string enricher_names() {
    std::vector<std::string_view> names;
    for (const auto& f : enricher_catalog()) names.push_back(f.name);
    return fmt::format("{}", fmt::join(names, ", "));
}

std::string output_names(const EnricherFunction& function) {
    std::vector<std::string_view> names;
    for (const auto& o : function.outputs) names.push_back(o.name);
    return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace starstream::daemon::spec
