#include "pipeline/product_view/star_batch_builder.h"

#include "enrichment/referrer_channel.h"


#include <algorithm>
#include <unordered_map>

namespace starstream::daemon::product_view {

std::string_view funnel_stage(std::string_view collection) {
    static const std::unordered_map<std::string_view, std::string_view> stages = {
        {"view_listing_page", "browse"}, {"view_home_page", "browse"}, {"view_landing_page", "browse"},
        {"view_static_page", "browse"}, {"view_sorting_relevance", "browse"}, {"sorting_relevance_click_action", "browse"},
        {"view_product_detail", "product"}, {"select_product_option", "product"},
        {"select_product_option_quality", "product"}, {"back_to_product_action", "product"},
        {"view_shopping_cart", "cart"}, {"add_to_cart_action", "cart"},
        {"checkout", "checkout"}, {"checkout_success", "purchase"},
        {"product_detail_recommendation_visible", "recommendation"}, {"product_detail_recommendation_noticed", "recommendation"},
        {"product_detail_recommendation_clicked", "recommendation"}, {"listing_page_recommendation_visible", "recommendation"},
        {"listing_page_recommendation_noticed", "recommendation"}, {"listing_page_recommendation_clicked", "recommendation"},
        {"landing_page_recommendation_visible", "recommendation"}, {"landing_page_recommendation_noticed", "recommendation"},
        {"landing_page_recommendation_clicked", "recommendation"}, {"view_all_recommend", "recommendation"},
        {"product_view_all_recommend_clicked", "recommendation"},
        {"view_my_account", "account"}, {"search_box_action", "search"},
    };
    auto it = stages.find(collection);
    return it == stages.end() ? std::string_view{} : it->second;
}

bool names_viewed_product(const ProductViewEvent& e) {
    return e.collection == "product_view_all_recommend_clicked" && !e.viewing_product_id.empty();
}

const std::string& event_product(const ProductViewEvent& e) { return names_viewed_product(e) ? e.viewing_product_id : e.product_id; }

void StarBatchBuilder::reset() { ids_.clear(); }

void StarBatchBuilder::add_event(StarBatch& batch, ProductViewEvent& e, std::uint16_t topic_index, std::int32_t partition, std::int64_t offset) {
    if (!ids_.insert(e.id).second) return;  // a duplicate within the batch: counted by the sink
    const std::int64_t t_us = e.time_stamp * 1000000;
    FactRow& f = batch.facts.emplace_back();
    f.event_id = e.id;
    f.event_time_us = t_us;
    const enrichment::DateHour local = enrichment_.calendar.date_hour(e.time_stamp);
    f.date_key = local.date_key;
    f.hour = local.hour;
    batch.date_keys.insert(f.date_key);
    batch.min_event_time_us = std::min(batch.min_event_time_us, t_us);
    batch.max_event_time_us = std::max(batch.max_event_time_us, t_us);

    const enrichment::DomainParts& shop = enrichment_.domain_parts(enrichment::url_host(e.current_url));
    add_store(batch, f, e, shop.registrable_domain);
    add_product(batch, f, e);
    add_location(batch, f, e);
    add_user_agent(batch, f, e);
    add_referrer(batch, f, e, shop.site_name);
    add_collection(batch, f, e);

    f.device_id = batch.keep(e.device_id);
    f.customer_id = batch.keep(e.customer_id);
    f.resolution = batch.keep(e.resolution);
    f.current_url = batch.keep(e.current_url);
    f.options_json = batch.keep(e.options_json);
    f.topic_index = topic_index;
    f.partition = partition;
    f.offset = offset;
}

void StarBatchBuilder::add_store(StarBatch& batch, FactRow& f, const ProductViewEvent& e, const std::string& registrable_domain) {
    // The store's domain is the registrable domain of its pages, so www. and staging hosts of
    // one shop site name the same store; its country is the domain's ccTLD.
    f.store_key = surrogate_key(e.store_id);
    const std::int64_t t = f.event_time_us;
    auto [it, added] = batch.stores.try_emplace(f.store_key);
    StoreMember& store = it->second;
    if (added) store.store_id = e.store_id, store.seen = {t, t};
    if (store.domain.offer(registrable_domain, t)) store.country_code = enrichment::WebAddress::tld_country(registrable_domain);
    store.seen.widen(t);
}

void StarBatchBuilder::add_product(StarBatch& batch, FactRow& f, const ProductViewEvent& e) {
    const std::string& product_id = event_product(e);
    if (product_id.empty()) return;
    f.has_product = true;
    f.product_key = surrogate_key(product_id);
    const std::int64_t t = f.event_time_us;
    auto [it, added] = batch.products.try_emplace(f.product_key);
    ProductMember& product = it->second;
    if (added) product.product_id = product_id, product.seen = {t, t};
    // Only the product's own page names its URL: a recommendation list opened from it does not.
    if (!names_viewed_product(e)) product.url.offer(enrichment::canonical_url(e.current_url), t);
    product.seen.widen(t);
}

void StarBatchBuilder::add_location(StarBatch& batch, FactRow& f, const ProductViewEvent& e) {
    f.ip_family = enrichment::parse_ip(e.ip, f.ip.data());
    enrichment::Location location = enrichment_.geo.locate(f.ip_family, f.ip.data());
    std::string natural_key = std::string(location.country_code) + '|' + location.region + '|' + location.city;
    f.location_key = surrogate_key(natural_key);
    if (auto [it, added] = batch.locations.try_emplace(f.location_key); added)
        it->second = {location.country_code, location.country_name, std::move(location.region), std::move(location.city)};
}

void StarBatchBuilder::add_user_agent(StarBatch& batch, FactRow& f, const ProductViewEvent& e) {
    f.user_agent_key = surrogate_key(e.user_agent);
    if (auto [it, added] = batch.user_agents.try_emplace(f.user_agent_key); added)
        it->second = {e.user_agent, enrichment_.user_agent(f.user_agent_key, e.user_agent)};
}

void StarBatchBuilder::add_referrer(StarBatch& batch, FactRow& f, const ProductViewEvent& e, const std::string& shop_site_name) {
    // Natural key: (registrable domain, channel); direct traffic is ("", "direct").
    const std::string host = enrichment::url_host(e.referrer_url);
    static const enrichment::DomainParts kNone;
    const enrichment::DomainParts& referrer = host.empty() ? kNone : enrichment_.domain_parts(host);
    const std::string_view channel = enrichment::referrer_channel(host, referrer, shop_site_name);
    f.referrer_key = surrogate_key(referrer.registrable_domain + '|' + std::string(channel));
    if (auto [it, added] = batch.referrers.try_emplace(f.referrer_key); added) it->second = {referrer.registrable_domain, std::string(channel)};
}

void StarBatchBuilder::add_collection(StarBatch& batch, FactRow& f, const ProductViewEvent& e) {
    f.collection_key = surrogate_key(e.collection);
    if (auto [it, added] = batch.collections.try_emplace(f.collection_key); added)
        it->second = {e.collection, std::string(funnel_stage(e.collection))};
}

}  // namespace starstream::daemon::product_view
