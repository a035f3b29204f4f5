#include "enrichment/referrer_channel.h"
#include "enrichment/web_address.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::enrichment;

TEST(WebAddress, Hosts) {
    EXPECT_EQ(url_host("https://www.Shop.DE/ring.html?x=1"), "www.shop.de");
    EXPECT_EQ(url_host("https://user:pw@host.example:8443/a"), "host.example");
    EXPECT_EQ(url_host("http://[2001:db8::1]:8080/a"), "2001:db8::1");
    EXPECT_EQ(url_host("not a url"), "");
}

TEST(WebAddress, CanonicalUrlsDropQueryFragmentAndCase) {
    EXPECT_EQ(canonical_url("https://www.Shop.de/ring-aurelia.html?alloy=white-585&utm_source=facebook#reviews"),
              "https://www.shop.de/ring-aurelia.html");
    EXPECT_EQ(canonical_url("HTTPS://www.shop.de"), "https://www.shop.de/");
    EXPECT_EQ(canonical_url("https://www.shop.de?fbclid=1"), "https://www.shop.de/");
    EXPECT_EQ(canonical_url(""), "");
}

TEST(WebAddress, RegistrableDomainsByThePublicSuffixList) {
    const WebAddress web;
    EXPECT_EQ(web.registrable_domain("www.shop.de"), "shop.de");
    EXPECT_EQ(web.registrable_domain("staging.shop.co.uk"), "shop.co.uk");
    EXPECT_EQ(web.registrable_domain("www.shop.com.au"), "shop.com.au");
    EXPECT_EQ(web.registrable_domain("93.184.216.34"), "93.184.216.34");
    EXPECT_EQ(web.registrable_domain(""), "");
    EXPECT_EQ(web.site_name("shop.co.uk"), "shop");
    EXPECT_EQ(web.site_name("google.com"), "google");
}

TEST(WebAddress, StoreCountryFromTheTopLevelDomain) {
    EXPECT_EQ(WebAddress::tld_country("shop.de"), "DE");
    EXPECT_EQ(WebAddress::tld_country("shop.co.uk"), "GB");
    EXPECT_EQ(WebAddress::tld_country("shop.com.au"), "AU");
    EXPECT_EQ(WebAddress::tld_country("shop.com"), "");
    EXPECT_EQ(WebAddress::tld_country("shop.eu"), "");
    EXPECT_EQ(WebAddress::tld_country(""), "");
}

TEST(ReferrerChannel, EachChannel) {
    const WebAddress web;
    auto channel = [&](const char* referrer) {
        const std::string host = url_host(referrer);
        return std::string(referrer_channel(host, web.domain_parts(host), "shop"));
    };
    EXPECT_EQ(channel(""), "direct");
    EXPECT_EQ(channel("https://www.google.co.uk/"), "search");
    EXPECT_EQ(channel("https://www.bing.com/search?q=rings"), "search");
    EXPECT_EQ(channel("https://m.facebook.com/"), "social");
    EXPECT_EQ(channel("https://t.co/abc"), "social");
    EXPECT_EQ(channel("https://mail.yahoo.com/"), "email");
    EXPECT_EQ(channel("https://www.shop.fr/rings.html"), "internal");
    EXPECT_EQ(channel("https://blog.example.org/post"), "other");
    EXPECT_EQ(web.domain_parts("m.facebook.com").registrable_domain, "facebook.com");
}
