#include "enrichment/referrer_channel.h"

#include <array>

namespace starstream::daemon::enrichment {

namespace {

template <std::size_t N>
bool one_of(std::string_view value, const std::array<std::string_view, N>& set) {
    for (auto v : set)
        if (v == value) return true;
    return false;
}

// Site names (registrable domain without its suffix), so that every country domain counts:
// google.de, google.co.uk, facebook.com. Short link domains are listed whole.
constexpr std::array<std::string_view, 10> kSearchSites = {"google", "bing", "yahoo", "duckduckgo", "yandex",
                                                           "baidu", "ecosia", "qwant", "startpage", "seznam"};
constexpr std::array<std::string_view, 14> kSocialSites = {"facebook", "instagram", "twitter", "pinterest", "youtube", "linkedin", "reddit",
                                                           "tiktok", "vk", "snapchat", "tumblr", "whatsapp", "messenger", "threads"};
constexpr std::array<std::string_view, 6> kSocialDomains = {"t.co", "x.com", "fb.com", "fb.me", "lnkd.in", "pin.it"};
constexpr std::array<std::string_view, 4> kWebmailPrefixes = {"mail.", "webmail.", "email.", "outlook."};

}  // namespace

Referrer classify_referrer(const WebAddress& web, std::string_view referrer_url, std::string_view shop_site_name) {
    const std::string host = url_host(referrer_url);
    if (host.empty()) return {"", "direct"};
    Referrer r{web.registrable_domain(host), ""};
    const std::string site = web.site_name(r.domain);
    bool webmail = false;
    for (auto prefix : kWebmailPrefixes) webmail = webmail || host.starts_with(prefix);
    if (webmail) r.channel = "email";
    else if (!shop_site_name.empty() && site == shop_site_name) r.channel = "internal";
    else if (one_of(site, kSocialSites) || one_of(std::string_view(r.domain), kSocialDomains)) r.channel = "social";
    else if (one_of(site, kSearchSites)) r.channel = "search";
    else r.channel = "other";
    return r;
}

}  // namespace starstream::daemon::enrichment
