#include "pipeline/product_view/star_batch_builder.h"

#include "pipeline/product_view/decoder.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::product_view;

TEST(StarRows, DateAndHourKeysAreUtc) {
    EXPECT_EQ(date_key(1588500123), 20200503);  // 2020-05-03 10:02:03 UTC
    EXPECT_EQ(hour_of_day(1588500123), 10);
    EXPECT_EQ(date_key(0), 19700101);
    EXPECT_EQ(date_key(-1), 19691231);
    EXPECT_EQ(hour_of_day(-1), 23);
}

TEST(StarRows, HostsAndReferrerDomains) {
    EXPECT_EQ(url_host("https://www.Shop.DE/ring.html?x=1"), "www.shop.de");
    EXPECT_EQ(url_host("https://user:pw@host.example:8443/a"), "host.example");
    EXPECT_EQ(url_host("not a url"), "");
    EXPECT_EQ(referrer_domain("https://m.facebook.com/"), "facebook.com");
    EXPECT_EQ(referrer_domain("https://www.google.co.uk/search?q=x"), "google.co.uk");
    EXPECT_EQ(referrer_domain(""), "");
}

TEST(StarRows, FunnelStages) {
    EXPECT_EQ(funnel_stage("checkout_success"), "purchase");
    EXPECT_EQ(funnel_stage("view_product_detail"), "product");
    EXPECT_EQ(funnel_stage("something_new"), "");
}

TEST(StarRows, SurrogateKeysAreDeterministicAndDistinct) {
    EXPECT_EQ(surrogate_key("6"), surrogate_key("6"));
    EXPECT_NE(surrogate_key("6"), surrogate_key("7"));
}

TEST(StarBatchBuilder, DeduplicatesIdsWithinABatchAndKeepsEarliestUrl) {
    GeoLocator geo("/usr/share/GeoIP/GeoIP.dat", "/usr/share/GeoIP/GeoIPv6.dat");
    StarBatchBuilder builder(geo);
    StarBatch batch;
    batch.topics = {"product_view"};
    Decoder decoder(65536);
    auto add = [&](const std::string& id, long ts, const std::string& url, const std::string& ip, std::int64_t offset) {
        ProductViewEvent e;
        std::string json = R"({"id":")" + id + R"(","time_stamp":)" + std::to_string(ts) + R"(,"store_id":"6","collection":"view_product_detail","product_id":"42","current_url":")" + url + R"(","ip":")" + ip + R"("})";
        ASSERT_EQ(decoder.decode(json, e), "");
        builder.add_event(batch, e, 0, 3, offset);
    };
    add("00000000-0000-4000-8000-000000000001", 200, "https://www.shop.de/b", "93.184.216.34", 10);
    add("00000000-0000-4000-8000-000000000001", 200, "https://www.shop.de/b", "93.184.216.34", 11);
    add("00000000-0000-4000-8000-000000000002", 100, "https://www.shop.de/a", "10.1.2.3", 12);
    EXPECT_EQ(batch.facts.size(), 2u);
    ASSERT_EQ(batch.products.size(), 1u);
    EXPECT_EQ(batch.products.begin()->second.url, "https://www.shop.de/a");
    EXPECT_EQ(batch.products.begin()->second.seen.first, 100 * 1000000);
    EXPECT_EQ(batch.products.begin()->second.seen.last, 200 * 1000000);
    EXPECT_EQ(batch.facts[1].ip_family, 4);
    // A private address is the explicit unknown member, never NULL.
    EXPECT_EQ(batch.locations.at(batch.facts[1].location_key).country_code, "ZZ");
    EXPECT_NE(batch.locations.at(batch.facts[0].location_key).country_code, "ZZ");
}
