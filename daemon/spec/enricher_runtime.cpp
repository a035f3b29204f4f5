#include "spec/enricher_runtime.h"

#include "enrichment/referrer_channel.h"
#include "pipeline/surrogate_key.h"
#include "spec/enricher_catalog.h"

#include <array>

namespace starstream::daemon::spec {

namespace {

/// The text of a value, "" for null or a non-text value.
std::string_view text_of(const FieldValue& v) {
    const auto* s = std::get_if<Text>(&v);
    return s ? s->view() : std::string_view();
}

/// `s` stored in `arena`, null for "".
FieldValue text_or_null(TextArena& arena, std::string_view s) { return s.empty() ? FieldValue{} : FieldValue{arena.store(s)}; }

}  // namespace

std::array<std::string_view, 3> taxonomy_levels(std::string_view code) {
    std::array<std::string_view, 3> out;
    for (std::size_t level = 0; level < 2 && !code.empty(); ++level) {
        const auto dot = code.find('.');
        out[level] = code.substr(0, dot);
        code = dot == std::string_view::npos ? std::string_view() : code.substr(dot + 1);
    }
    out[2] = code;  // the third level and any deeper ones
    return out;
}

namespace {

}  // namespace

ReferenceLayout::ReferenceLayout(const PipelineSpec& spec) {
    for (const auto& f : spec.fields) index_.emplace(f.name, index_.size());
    for (const auto& e : spec.enrichers)
        for (const auto& o : find_enricher(e.function)->outputs) index_.emplace(e.name + "." + std::string(o.name), index_.size());
}

EnricherRuntime::EnricherRuntime(const PipelineSpec& spec, const ReferenceLayout& layout, enrichment::Enrichment& en) {
    for (const auto& e : spec.enrichers) {
        std::vector<std::size_t> in;
        for (const auto& ref : e.inputs) in.push_back(layout.at(ref));
        const std::string& f = e.function;
        // Each pushes its outputs in catalog order (enricher_catalog.cpp).
        if (f == "calendar") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&, TextArena&) {
                const auto* us = std::get_if<std::int64_t>(&v[in[0]]);
                if (!us) return v.resize(v.size() + 2);
                const auto local = en.calendar.date_hour(*us >= 0 ? *us / 1000000 : (*us - 999999) / 1000000);
                v.emplace_back(std::int64_t{local.date_key});
                v.emplace_back(std::int64_t{local.hour});
            });
        } else if (f == "user_agent") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                // A header that is there, "" included (a field's default), is parsed as the compiled pipeline does.
                const auto* present = std::get_if<Text>(&v[in[0]]);
                if (!present) return v.resize(v.size() + 9);
                const std::string_view header = present->view();
                const auto& ua = en.user_agent(surrogate_key(header), header);
                const std::string browser_version = ua.browser_version(), os_version = ua.os_version();
                for (std::string_view s : {std::string_view(ua.browser_family), std::string_view(browser_version), std::string_view(ua.os_family),
                                           std::string_view(os_version), std::string_view(ua.device_family), std::string_view(ua.device_brand),
                                           std::string_view(ua.device_model), std::string_view(ua.device_type)})
                    v.push_back(text_or_null(arena, s));
                v.emplace_back(ua.is_bot);
            });
        } else if (f == "ip_geography") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                // As the compiled pipeline: every record has a location, the unknown one (ZZ)
                // without a valid address, region and city '' where unknown (part of the key).
                std::array<std::uint8_t, 16> ip{};
                const std::uint8_t family = enrichment::parse_ip(text_of(v[in[0]]), ip.data());
                const enrichment::Location l = en.geo.locate(family, ip.data());
                for (std::string_view s : {std::string_view(l.country_code), std::string_view(l.country_name), std::string_view(l.region),
                                           std::string_view(l.city)})
                    v.emplace_back(arena.store(s));
            });
        } else if (f == "registrable_domain") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                const std::string host = enrichment::url_host(text_of(v[in[0]]));
                if (host.empty()) return v.resize(v.size() + 3);
                const std::string& domain = en.domain_parts(host).registrable_domain;  // valid until the next lookup
                v.emplace_back(arena.store(host));
                v.push_back(text_or_null(arena, domain));
                v.push_back(text_or_null(arena, enrichment::WebAddress::tld_country(domain)));
            });
        } else if (f == "referrer_channel") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                // As the compiled pipeline: the page's site name tells internal traffic; no referrer is direct.
                const std::string page_host = enrichment::url_host(text_of(v[in[1]]));
                const std::string site = page_host.empty() ? std::string() : en.domain_parts(page_host).site_name;
                const std::string host = enrichment::url_host(text_of(v[in[0]]));
                static const enrichment::DomainParts kNone;
                const enrichment::DomainParts& referrer = host.empty() ? kNone : en.domain_parts(host);
                v.emplace_back(arena.store(referrer.registrable_domain));  // '' for direct traffic: a member, as the compiled pipeline's
                v.emplace_back(arena.store(enrichment::referrer_channel(host, referrer, site)));
            });
        } else if (f == "taxonomy_levels") {
            enrichers_.push_back([in](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                // The code itself stays "" rather than null when absent: uncategorised events
                // still make a group (a window's group key, dim_category's key).
                const std::string_view code = text_of(v[in[0]]);
                v.emplace_back(arena.store(code));
                for (const auto& level : taxonomy_levels(code)) v.push_back(text_or_null(arena, level));
            });
        } else if (f == "canonical_url") {
            enrichers_.push_back([in](std::vector<FieldValue>& v, const RecordPosition&, TextArena& arena) {
                v.push_back(text_or_null(arena, enrichment::canonical_url(text_of(v[in[0]]))));
            });
        } else if (f == "record_origin") {
            enrichers_.push_back([](std::vector<FieldValue>& v, const RecordPosition& at, TextArena& arena) {
                v.emplace_back(arena.store(at.topic));
                v.emplace_back(std::int64_t{at.partition});
                v.emplace_back(at.offset);
            });
        }
    }
}

void EnricherRuntime::apply(std::vector<FieldValue>& values, const RecordPosition& position, TextArena& arena) {
    for (auto& enrich : enrichers_) enrich(values, position, arena);
}

}  // namespace starstream::daemon::spec
