// The parts of web addresses the star schema keeps: hosts, registrable domains (by the Public
// Suffix List, through libpsl and the `publicsuffix` package), the country a store's domain
// names, and canonical product URLs.
// Thread rules: free functions are pure; a WebAddress is immutable after construction and can
// be shared.
#pragma once

#include <string>
#include <string_view>

struct psl_ctx_st;

namespace starstream::daemon::enrichment {

/// Lower-case host of an absolute URL (`scheme://[user@]host[:port]/...`); "" if there is none.
std::string url_host(std::string_view url);

/// The URL without query string, fragment, user info and default port: scheme and host in lower
/// case, the path as sent. Tracking parameters (utm_*, fbclid...) and product options live in
/// the query, so one product page gives one URL. Returns "" when `url` has no host.
std::string canonical_url(std::string_view url);

/// A host's registrable domain and site name ("www.shop.co.uk": "shop.co.uk", "shop").
struct DomainParts {
    std::string registrable_domain, site_name;
};

class WebAddress {
public:
    /// Loads the newest Public Suffix List among libpsl's built-in copy and the `publicsuffix`
    /// package's file. Throws std::runtime_error when neither can be loaded.
    WebAddress();
    ~WebAddress();
    WebAddress(const WebAddress&) = delete;
    WebAddress& operator=(const WebAddress&) = delete;

    /// The registrable domain (public suffix plus one label) of a lower-case host:
    /// "staging.shop.co.uk" -> "shop.co.uk". A host that has none (an IP address, "localhost",
    /// a bare suffix) is returned as it is; "" stays "".
    std::string registrable_domain(std::string_view host) const;

    /// The ISO 3166 alpha-2 country a registrable domain's top-level label names: "shop.de" ->
    /// "DE", "shop.co.uk" -> "GB" (.uk is the one ccTLD that differs from its ISO code),
    /// "shop.com.au" -> "AU"; "" for generic TLDs (.com, .net, .shop...) and .eu.
    static std::string tld_country(std::string_view registrable_domain);

    /// The registrable domain's name without its public suffix: "shop.co.uk" -> "shop".
    std::string site_name(std::string_view registrable_domain) const;

    /// Both of the above for a lower-case host.
    DomainParts domain_parts(std::string_view host) const;

private:
    const psl_ctx_st* psl_;
    bool owned_;
};

}  // namespace starstream::daemon::enrichment
