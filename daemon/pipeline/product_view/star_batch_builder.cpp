#include "pipeline/product_view/star_batch_builder.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

namespace starstream::daemon::product_view {

std::int64_t surrogate_key(std::string_view natural_key) {
    return static_cast<std::int64_t>(XXH3_64bits(natural_key.data(), natural_key.size()));
}

std::string url_host(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return "";
    url.remove_prefix(scheme + 3);
    auto end = url.find_first_of("/?#");
    std::string_view authority = url.substr(0, end);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (auto colon = authority.find(':'); colon != std::string_view::npos) authority = authority.substr(0, colon);
    std::string host(authority);
    for (char& c : host)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII only: hosts are IDNA-encoded
    return host;
}

std::string referrer_domain(std::string_view referrer_url) {
    std::string host = url_host(referrer_url);
    for (std::string_view prefix : {"www.", "m."})
        if (host.size() > prefix.size() && host.compare(0, prefix.size(), prefix) == 0) return host.substr(prefix.size());
    return host;
}

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

std::int32_t date_key(std::int64_t unix_seconds) {
    using namespace std::chrono;
    const year_month_day ymd{floor<days>(sys_seconds{seconds{unix_seconds}})};
    return int(ymd.year()) * 10000 + static_cast<int>(unsigned(ymd.month())) * 100 + static_cast<int>(unsigned(ymd.day()));
}

std::int16_t hour_of_day(std::int64_t unix_seconds) {
    std::int64_t in_day = unix_seconds % 86400;
    if (in_day < 0) in_day += 86400;
    return static_cast<std::int16_t>(in_day / 3600);
}

void StarBatchBuilder::reset() { ids_.clear(); }

std::int64_t StarBatchBuilder::location_key(const char* country_code) {
    // Natural key "CC|region|city"; region and city stay empty until a city database is configured.
    const std::uint16_t code = static_cast<std::uint16_t>(static_cast<unsigned char>(country_code[0]) << 8 | static_cast<unsigned char>(country_code[1]));
    auto [it, added] = location_keys_.try_emplace(code);
    if (added) it->second = surrogate_key(std::string(country_code) + "||");
    return it->second;
}

void StarBatchBuilder::add_event(StarBatch& batch, ProductViewEvent& e, std::uint16_t topic_index, std::int32_t partition, std::int64_t offset) {
    if (!ids_.insert(e.id).second) return;  // a duplicate within the batch: counted by the sink
    const std::int64_t t_us = e.time_stamp * 1000000;
    FactRow& f = batch.facts.emplace_back();
    f.event_id = e.id;
    f.event_time_us = t_us;
    f.date_key = date_key(e.time_stamp);
    f.hour = hour_of_day(e.time_stamp);
    batch.date_keys.insert(f.date_key);
    batch.min_event_time_us = std::min(batch.min_event_time_us, t_us);
    batch.max_event_time_us = std::max(batch.max_event_time_us, t_us);

    f.store_key = surrogate_key(e.store_id);
    auto [store, new_store] = batch.stores.try_emplace(f.store_key);
    if (new_store) {
        store->second = {e.store_id, url_host(e.current_url), {t_us, t_us}};
    } else if (t_us <= store->second.seen.first) {
        // The domain of the earliest event wins (ties: the smaller host), whatever the batch
        // boundaries, so that replays after a crash produce the same row.
        std::string host = url_host(e.current_url);
        if (t_us < store->second.seen.first || host < store->second.domain) store->second.domain = std::move(host);
    }
    store->second.seen.widen(t_us);

    if (!e.product_id.empty()) {
        f.has_product = true;
        f.product_key = surrogate_key(e.product_id);
        auto [product, new_product] = batch.products.try_emplace(f.product_key);
        if (new_product) {
            product->second = {e.product_id, e.current_url, {t_us, t_us}};
        } else if (t_us < product->second.seen.first || (t_us == product->second.seen.first && e.current_url < product->second.url)) {
            product->second.url = e.current_url;
        }
        product->second.seen.widen(t_us);
    }

    f.ip_family = parse_ip(e.ip, f.ip.data());
    const Country country = geo_.country(f.ip_family, f.ip.data());
    f.location_key = location_key(country.code);
    if (auto [it, added] = batch.locations.try_emplace(f.location_key); added) it->second = {country.code, country.name};

    f.user_agent_key = surrogate_key(e.user_agent);
    if (auto [it, added] = batch.user_agents.try_emplace(f.user_agent_key); added) it->second = {e.user_agent};

    std::string domain = referrer_domain(e.referrer_url);
    f.referrer_key = surrogate_key(domain);
    if (auto [it, added] = batch.referrers.try_emplace(f.referrer_key); added) it->second = {domain, domain.empty() ? "direct" : ""};

    f.collection_key = surrogate_key(e.collection);
    if (auto [it, added] = batch.collections.try_emplace(f.collection_key); added)
        it->second = {e.collection, std::string(funnel_stage(e.collection))};

    f.device_id = batch.keep(e.device_id);
    f.customer_id = batch.keep(e.customer_id);
    f.resolution = batch.keep(e.resolution);
    f.current_url = batch.keep(e.current_url);
    f.options_json = batch.keep(e.options_json);
    f.topic_index = topic_index;
    f.partition = partition;
    f.offset = offset;
}

}  // namespace starstream::daemon::product_view
