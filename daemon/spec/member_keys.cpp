#include "spec/member_keys.h"

#include "enrichment/geo_locator.h"
#include "pipeline/surrogate_key.h"
#include "spec/content_id.h"
#include "spec/table_schema.h"
#include "spec/value_text.h"

#include <arpa/inet.h>

namespace starstream::daemon::spec {

namespace {

/// A key part's text as hashed: its input text, except where one value has several spellings
/// (a numeric "1.0" and "1", an inet "::1" and "0::1"), which would make two surrogate keys for
/// the one member the natural key's unique index holds (and its merge upsert that row twice).
/// Those take one canonical text: canonical_decimal, inet_ntop of the parsed address, "0" for a
/// double's -0. (jsonb, whose spellings are many, keys no dimension: runnable_problem.)
std::optional<std::string_view> key_text(const FieldValue& value, const std::string& type, std::string& buffer) {
    if (const auto* d = std::get_if<double>(&value); d && *d == 0) return std::string_view("0");
    const auto text = input_view(value, type, buffer);
    if (!text) return text;
    if (type == "numeric") return std::string_view(buffer = content_id::canonical_decimal(*text));
    if (type == "inet") {
        std::uint8_t address[16];
        char out[INET6_ADDRSTRLEN];
        const std::uint8_t family = enrichment::parse_ip(*text, address);
        if (family && inet_ntop(family == 4 ? AF_INET : AF_INET6, address, out, sizeof out)) return std::string_view(buffer = out);
    }
    return text;
}

}  // namespace

bool has_several_spellings(const std::string& type) { return type == "numeric" || type == "inet" || type == "double precision"; }

MemberKeys::MemberKeys(const PipelineSpec& spec, const ReferenceLayout& layout) {
    for (const auto& d : spec.dimensions) {
        Dimension dim;
        for (const auto& c : d.key) dim.key.push_back({layout.at(c.ref), reference_type(spec, c.ref)});
        dim.key_is_surrogate = d.key.size() == 1 && d.key[0].name == surrogate_key_column(d.table);
        dim.scd2 = d.policy == DimensionPolicy::scd2;
        dimensions_.push_back(std::move(dim));
    }
}

std::optional<std::int64_t> MemberKeys::of(std::size_t dimension, const std::vector<FieldValue>& values) const {
    const Dimension& d = dimensions_[dimension];
    if (d.scd2) return std::nullopt;
    if (d.key_is_surrogate) {
        // Only for an integer column (runnable_problem): the decoder made it an int64.
        const auto* key = std::get_if<std::int64_t>(&values[d.key[0].index]);
        return key ? std::optional<std::int64_t>(*key) : std::nullopt;
    }
    std::string buffer;
    if (d.key.size() == 1) {  // the common case, without copying the value
        const auto natural = key_text(values[d.key[0].index], d.key[0].type, buffer);
        return natural ? std::optional<std::int64_t>(surrogate_key(*natural)) : std::nullopt;
    }
    std::vector<std::string> parts;
    for (const auto& k : d.key) {
        const auto part = key_text(values[k.index], k.type, buffer);
        if (!part) return std::nullopt;
        parts.emplace_back(*part);
    }
    return surrogate_key(joined_key(parts));
}

void MemberKeys::fill(const std::vector<FieldValue>& values, std::vector<std::int64_t>& out) const {
    out.resize(dimensions_.size());
    for (std::size_t d = 0; d < dimensions_.size(); ++d) out[d] = of(d, values).value_or(kNone);
}

}  // namespace starstream::daemon::spec
