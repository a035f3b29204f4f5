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

std::string_view referrer_channel(std::string_view host, const DomainParts& referrer, std::string_view shop_site_name) {
    if (host.empty()) return "direct";
    for (auto prefix : kWebmailPrefixes)
        if (host.starts_with(prefix)) return "email";
    if (!shop_site_name.empty() && referrer.site_name == shop_site_name) return "internal";
    if (one_of(std::string_view(referrer.site_name), kSocialSites) || one_of(std::string_view(referrer.registrable_domain), kSocialDomains))
        return "social";
    if (one_of(std::string_view(referrer.site_name), kSearchSites)) return "search";
    return "other";
}

}  // namespace starstream::daemon::enrichment
