#include "pipeline/product_view/star_batch_builder.h"

#include "pipeline/product_view/decoder.h"

#include <gtest/gtest.h>

using namespace starstream::daemon::product_view;
using starstream::daemon::enrichment::Enrichment;
using starstream::daemon::enrichment::EnrichmentSettings;

TEST(StarRows, FunnelStages) {
    EXPECT_EQ(funnel_stage("checkout_success"), "purchase");
    EXPECT_EQ(funnel_stage("view_product_detail"), "product");
    EXPECT_EQ(funnel_stage("product_view_all_recommend_clicked"), "recommendation");
    EXPECT_EQ(funnel_stage("something_new"), "");
}

TEST(StarRows, SurrogateKeysAreDeterministicAndDistinct) {
    EXPECT_EQ(surrogate_key("6"), surrogate_key("6"));
    EXPECT_NE(surrogate_key("6"), surrogate_key("7"));
}

TEST(EarliestValue, TakesTheEarliestNonEmptyValueWhateverTheOrder) {
    EarliestValue a, b;
    a.offer("", 1), a.offer("y", 3), a.offer("x", 2), a.offer("z", 2);
    b.offer("z", 2), b.offer("y", 3), b.offer("x", 2), b.offer("", 1);
    EXPECT_EQ(a.value, "x");
    EXPECT_EQ(a.seen, 2);
    EXPECT_EQ(b.value, a.value);
    EXPECT_FALSE(EarliestValue{}.known());
}

class StarBatchBuilderTest : public ::testing::Test {
protected:
    void add(const std::string& id, long ts, const std::string& fields, std::int64_t offset) {
        ProductViewEvent e;
        const std::string json = R"({"id":")" + id + R"(","time_stamp":)" + std::to_string(ts) + "," + fields + "}";
        ASSERT_EQ(decoder.decode(json, e), "") << json;
        builder.add_event(batch, e, 0, 3, offset);
    }

    Enrichment enrichment{EnrichmentSettings{}};
    StarBatchBuilder builder{enrichment};
    Decoder decoder{65536};
    StarBatch batch = [] {
        StarBatch b;
        b.topics = {"product_view"};
        return b;
    }();
};

TEST_F(StarBatchBuilderTest, DeduplicatesIdsAndKeepsTheEarliestCanonicalUrl) {
    const std::string detail = R"("store_id":"6","collection":"view_product_detail","product_id":"42",)";
    add("00000000-0000-4000-8000-000000000001", 200, detail + R"("current_url":"https://www.shop.de/b.html","ip":"93.184.216.34")", 10);
    add("00000000-0000-4000-8000-000000000001", 200, detail + R"("current_url":"https://www.shop.de/b.html","ip":"93.184.216.34")", 11);
    add("00000000-0000-4000-8000-000000000002", 100, detail + R"("current_url":"https://www.Shop.de/a.html?alloy=white&utm_source=fb","ip":"10.1.2.3")", 12);
    EXPECT_EQ(batch.facts.size(), 2u);
    ASSERT_EQ(batch.products.size(), 1u);
    const ProductMember& product = batch.products.begin()->second;
    EXPECT_EQ(product.url.value, "https://www.shop.de/a.html");
    EXPECT_EQ(product.seen.first, 100 * 1000000);
    EXPECT_EQ(product.seen.last, 200 * 1000000);
    EXPECT_EQ(batch.facts[1].ip_family, 4);
    // A private address is the explicit unknown member, never NULL.
    EXPECT_EQ(batch.locations.at(batch.facts[1].location_key).country_code, "ZZ");
    EXPECT_EQ(batch.locations.at(batch.facts[0].location_key).country_code, "US");
}

TEST_F(StarBatchBuilderTest, RecommendationClicksNameTheViewedProductAsAnInferredMember) {
    add("00000000-0000-4000-8000-000000000003", 100,
        R"("store_id":"7","collection":"product_view_all_recommend_clicked","product_id":"","viewing_product_id":"90412",)"
        R"("current_url":"https://staging.shop.co.uk/recommendations.html")",
        1);
    ASSERT_EQ(batch.products.size(), 1u);
    const ProductMember& product = batch.products.begin()->second;
    EXPECT_EQ(product.product_id, "90412");
    EXPECT_FALSE(product.url.known());  // the page is the list, not the product: inferred member
    EXPECT_TRUE(batch.facts[0].has_product);
    const StoreMember& store = batch.stores.begin()->second;
    EXPECT_EQ(store.domain.value, "shop.co.uk");  // the staging host is the same store
    EXPECT_EQ(store.country_code, "GB");
}

TEST_F(StarBatchBuilderTest, UserAgentsReferrersAndCollectionsAreEnriched) {
    add("00000000-0000-4000-8000-000000000004", 100,
        R"("store_id":"29","collection":"checkout_success","current_url":"https://www.shop.com.au/checkout/onepage/success/",)"
        R"("referrer_url":"https://mail.google.com/mail/u/0/","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 13_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1 Mobile/15E148 Safari/604.1")",
        1);
    const UserAgentMember& ua = batch.user_agents.at(batch.facts[0].user_agent_key);
    EXPECT_EQ(ua.parsed.browser_family, "Mobile Safari");
    EXPECT_EQ(ua.parsed.os_family, "iOS");
    EXPECT_EQ(ua.parsed.device_type, "mobile");
    const ReferrerMember& referrer = batch.referrers.at(batch.facts[0].referrer_key);
    EXPECT_EQ(referrer.domain, "google.com");
    EXPECT_EQ(referrer.channel, "email");
    EXPECT_EQ(batch.collections.at(batch.facts[0].collection_key).funnel_stage, "purchase");
    EXPECT_EQ(batch.stores.begin()->second.country_code, "AU");
}
