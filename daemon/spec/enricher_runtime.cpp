#include "spec/enricher_runtime.h"

#include "enrichment/referrer_channel.h"
#include "pipeline/surrogate_key.h"
#include "spec/enricher_catalog.h"

#include <array>

namespace starstream::daemon::spec {

namespace {

/// The text of a value, "" for null or a non-text value.
std::string_view text_of(const FieldValue& v) {
    const auto* s = std::get_if<std::string>(&v);
    return s ? std::string_view(*s) : std::string_view();
}

FieldValue text_or_null(std::string s) { return s.empty() ? FieldValue{} : FieldValue{std::move(s)}; }

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
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&) {
                const auto* us = std::get_if<std::int64_t>(&v[in[0]]);
                if (!us) return v.resize(v.size() + 2);
                const auto local = en.calendar.date_hour(*us >= 0 ? *us / 1000000 : (*us - 999999) / 1000000);
                v.emplace_back(std::int64_t{local.date_key});
                v.emplace_back(std::int64_t{local.hour});
            });
        } else if (f == "user_agent") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&) {
                // A header that is there, "" included (a field's default), is parsed as the compiled pipeline does.
                const auto* present = std::get_if<std::string>(&v[in[0]]);
                if (!present) return v.resize(v.size() + 9);
                const std::string_view header = *present;
                const auto& ua = en.user_agent(surrogate_key(header), header);
                for (std::string s : {ua.browser_family, ua.browser_version(), ua.os_family, ua.os_version(), ua.device_family, ua.device_brand,
                                      ua.device_model, ua.device_type})
                    v.push_back(text_or_null(std::move(s)));
                v.emplace_back(ua.is_bot);
            });
        } else if (f == "ip_geography") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&) {
                // As the compiled pipeline: every record has a location, the unknown one (ZZ)
                // without a valid address, region and city '' where unknown (part of the key).
                std::array<std::uint8_t, 16> ip{};
                const std::uint8_t family = enrichment::parse_ip(text_of(v[in[0]]), ip.data());
                enrichment::Location l = en.geo.locate(family, ip.data());
                v.emplace_back(std::string(l.country_code));
                v.emplace_back(std::string(l.country_name));
                v.emplace_back(std::move(l.region));
                v.emplace_back(std::move(l.city));
            });
        } else if (f == "registrable_domain") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&) {
                std::string host = enrichment::url_host(text_of(v[in[0]]));
                if (host.empty()) return v.resize(v.size() + 3);
                const std::string& domain = en.domain_parts(host).registrable_domain;  // valid until the next lookup
                v.emplace_back(std::move(host));
                v.push_back(text_or_null(domain));
                v.push_back(text_or_null(enrichment::WebAddress::tld_country(domain)));
            });
        } else if (f == "referrer_channel") {
            enrichers_.push_back([in, &en](std::vector<FieldValue>& v, const RecordPosition&) {
                // As the compiled pipeline: the page's site name tells internal traffic; no referrer is direct.
                const std::string page_host = enrichment::url_host(text_of(v[in[1]]));
                const std::string site = page_host.empty() ? std::string() : en.domain_parts(page_host).site_name;
                const std::string host = enrichment::url_host(text_of(v[in[0]]));
                static const enrichment::DomainParts kNone;
                const enrichment::DomainParts& referrer = host.empty() ? kNone : en.domain_parts(host);
                v.emplace_back(referrer.registrable_domain);  // '' for direct traffic: a member, as the compiled pipeline's
                v.emplace_back(std::string(enrichment::referrer_channel(host, referrer, site)));
            });
        } else if (f == "taxonomy_levels") {
            enrichers_.push_back([in](std::vector<FieldValue>& v, const RecordPosition&) {
                // The code itself stays "" rather than null when absent: uncategorised events
                // still make a group (a window's group key, dim_category's key).
                const std::string_view code = text_of(v[in[0]]);
                v.emplace_back(std::string(code));
                for (const auto& level : taxonomy_levels(code)) v.push_back(text_or_null(std::string(level)));
            });
        } else if (f == "canonical_url") {
            enrichers_.push_back([in](std::vector<FieldValue>& v, const RecordPosition&) {
                v.push_back(text_or_null(enrichment::canonical_url(text_of(v[in[0]]))));
            });
        } else if (f == "record_origin") {
            enrichers_.push_back([](std::vector<FieldValue>& v, const RecordPosition& at) {
                v.emplace_back(std::string(at.topic));
                v.emplace_back(std::int64_t{at.partition});
                v.emplace_back(at.offset);
            });
        }
    }
}

void EnricherRuntime::apply(std::vector<FieldValue>& values, const RecordPosition& position) {
    for (auto& enrich : enrichers_) enrich(values, position);
}

}  // namespace starstream::daemon::spec
