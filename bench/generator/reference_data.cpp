#include "reference_data.h"

#include <GeoIP.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <arpa/inet.h>
#include <memory>
#include <stdexcept>

namespace starstream::bench {

const std::vector<CollectionFigure>& collections() {
    static const std::vector<CollectionFigure> figures = {
        {"view_listing_page", 11259694, false},
        {"view_product_detail", 10944427, true},
        {"select_product_option", 8844342, true},
        {"select_product_option_quality", 2231825, true},
        {"view_static_page", 1451565, false},
        {"view_landing_page", 1434230, false},
        {"product_detail_recommendation_visible", 1302362, true},
        {"view_home_page", 1053420, false},
        {"listing_page_recommendation_visible", 718048, false},
        {"product_detail_recommendation_noticed", 490780, true},
        {"view_shopping_cart", 343077, false},
        {"landing_page_recommendation_visible", 314999, false},
        {"search_box_action", 238308, false},
        {"add_to_cart_action", 187901, true},
        {"product_detail_recommendation_clicked", 179228, true},
        {"view_my_account", 112066, false},
        {"checkout", 88540, false},
        {"landing_page_recommendation_noticed", 58186, false},
        {"listing_page_recommendation_noticed", 39819, false},
        {"view_all_recommend", 33664, false},
        {"checkout_success", 26079, false},
        {"listing_page_recommendation_clicked", 25545, false},
        {"landing_page_recommendation_clicked", 20128, false},
        {"product_view_all_recommend_clicked", 16682, false},
        {"view_sorting_relevance", 15284, false},
        {"sorting_relevance_click_action", 1713, false},
        {"back_to_product_action", 561, true},
    };
    return figures;
}

std::vector<StoreFigure> stores() {
    std::vector<StoreFigure> result = {
        {6, 0.125, "de", "DE"},     {7, 0.081, "co.uk", "GB"}, {12, 0.061, "fr", "FR"},
        {41, 0.057, "com", "US"},   {14, 0.045, "it", "IT"},   {8, 0.041, "es", "ES"},
        {19, 0.037, "se", "SE"},    {29, 0.034, "com.au", "AU"}, {51, 0.033, "ro", "RO"},
        {11, 0.030, "nl", "NL"},
    };
    // The long tail: other country stores, ids spread over 1..101 without the ones above.
    static const std::pair<const char*, const char*> tail[] = {
        {"at", "AT"}, {"ch", "CH"}, {"be", "BE"}, {"pl", "PL"}, {"dk", "DK"}, {"no", "NO"},
        {"fi", "FI"}, {"pt", "PT"}, {"ie", "IE"}, {"cz", "CZ"}, {"hu", "HU"}, {"gr", "GR"},
        {"sk", "SK"}, {"si", "SI"}, {"hr", "HR"}, {"bg", "BG"}, {"lt", "LT"}, {"lv", "LV"},
        {"ee", "EE"}, {"ca", "CA"}, {"com.mx", "MX"}, {"com.br", "BR"}, {"cl", "CL"},
        {"com.co", "CO"}, {"com.ar", "AR"}, {"pe", "PE"}, {"co.nz", "NZ"}, {"co.za", "ZA"},
        {"in", "IN"}, {"jp", "JP"}, {"co.kr", "KR"}, {"com.sg", "SG"}, {"com.my", "MY"},
        {"co.id", "ID"}, {"com.ph", "PH"}, {"co.th", "TH"}, {"vn", "VN"}, {"com.tr", "TR"},
        {"ae", "AE"}, {"sa", "SA"}, {"co.il", "IL"}, {"com.eg", "EG"}, {"ma", "MA"},
        {"ng", "NG"}, {"ke", "KE"}, {"ru", "RU"}, {"ua", "UA"}, {"rs", "RS"}, {"ba", "BA"},
        {"mk", "MK"}, {"al", "AL"}, {"lu", "LU"}, {"is", "IS"}, {"mt", "MT"}, {"cy", "CY"},
        {"hk", "HK"}, {"tw", "TW"}, {"cn", "CN"}, {"pk", "PK"}, {"lk", "LK"}, {"bd", "BD"},
        {"qa", "QA"}, {"kw", "KW"}, {"om", "OM"}, {"jo", "JO"}, {"lb", "LB"}, {"do", "DO"},
        {"cr", "CR"}, {"pa", "PA"}, {"uy", "UY"}, {"py", "PY"}, {"bo", "BO"}, {"ec", "EC"},
        {"gt", "GT"}, {"by", "BY"}, {"md", "MD"},
    };
    double remaining = 1.0;
    for (const auto& s : result) remaining -= s.share;
    const int tail_count = static_cast<int>(std::size(tail));
    // Geometric decay with ratio 0.93 over the tail, normalised to the remaining share.
    std::vector<double> weights(tail_count);
    double total = 0;
    for (int i = 0; i < tail_count; ++i) total += weights[i] = std::pow(0.93, i);
    int id = 1;
    auto taken = [&](int candidate) {
        return std::any_of(result.begin(), result.end(), [&](const StoreFigure& s) { return s.store_id == candidate; });
    };
    for (int i = 0; i < tail_count; ++i) {
        while (taken(id)) ++id;
        double share = remaining * weights[i] / total;
        if (i >= tail_count - 2) share = 1e-7;  // the two single-event stores
        result.push_back({id, share, tail[i].first, tail[i].second});
        id += (i % 7 == 3) ? 2 : 1;  // leave gaps: ids are not contiguous
    }
    return result;
}

namespace {

/// True for a crawler or preview agent that carries a browser's family (uap-core parses
/// "...Google Web Preview) Chrome/27..." as Chrome on a Spider device): such strings belong to
/// the "others" share, not to the browser's.
bool looks_automated(const std::string& ua) {
    std::string lower(ua);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    for (const char* marker : {"bot", "crawl", "spider", "preview", "headless"})
        if (lower.find(marker) != std::string::npos) return true;
    return false;
}

}  // namespace

const std::vector<BrowserShareFigure>& browser_shares() {
    // Approximate worldwide browser shares, all platforms (desktop, mobile, tablet), of April to
    // June 2020, from StatCounter GlobalStats' published monthly figures
    // (https://gs.statcounter.com/browser-market-share/all/worldwide/2020), rounded to 0.1 point:
    // Chrome 63.9, Safari 18.2, Firefox 4.4, Samsung Internet 3.3, Edge 3.0, UC Browser 2.0,
    // Opera 1.9, IE 1.0, Android 0.6, Yandex 0.6, others 1.1. Written down from those figures,
    // not checked against a stored copy of them (none was at hand): take them as right in rank
    // and rough size, not to the decimal. Reports of StatCounter's neighbouring months agree
    // (July 2020: Chrome about two thirds of desktop and 60 % of mobile, Safari second on both).
    // StatCounter counts a vendor once across platforms; uap-core names desktop, mobile and
    // in-app (WebView) variants apart, so each vendor is split by StatCounter's platform split
    // of the same period (mobile about 51 %, desktop about 46 %, tablet about 3 %) and each
    // vendor's share on that platform.
    static const std::vector<BrowserShareFigure> figures = {
        {"Chrome", 31.5},         {"Chrome Mobile", 26.4},  {"Chrome Mobile WebView", 6.0},
        {"Mobile Safari", 12.0},  {"Safari", 4.2},          {"Mobile Safari UI/WKWebView", 2.0},
        {"Firefox", 3.7},         {"Firefox Mobile", 0.5},  {"Firefox iOS", 0.2},
        {"Samsung Internet", 3.3},
        {"Edge", 2.8},            {"Edge Mobile", 0.2},
        {"UC Browser", 2.0},
        {"Opera", 1.2},           {"Opera Mini", 0.5},      {"Opera Mobile", 0.2},
        {"IE", 1.0},
        {"Android", 0.6},
        {"Yandex Browser", 0.6},
    };
    return figures;
}

UserAgentPool::UserAgentPool(const std::string& uap_test_yaml) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(uap_test_yaml);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot read User-Agent cases from " + uap_test_yaml + ": " + e.what());
    }
    const auto& shares = browser_shares();
    by_family_.resize(shares.size() + 1);
    for (const auto& test_case : root["test_cases"]) {
        auto ua = test_case["user_agent_string"].as<std::string>("");
        const auto family = test_case["family"].as<std::string>("");
        if (ua.empty() || ua.find('\n') != std::string::npos) continue;
        auto it = std::find_if(shares.begin(), shares.end(), [&](const BrowserShareFigure& f) { return family == f.family; });
        if (it != shares.end() && !looks_automated(ua)) {
            by_family_[it - shares.begin()].push_back(std::move(ua));
        } else if (ua.rfind("Mozilla/", 0) == 0) {  // others: browser-like strings only, no bare HTTP clients
            by_family_.back().push_back(std::move(ua));
        }
    }
    std::vector<double> weights;
    for (std::size_t i = 0; i < by_family_.size(); ++i) {
        auto& pool = by_family_[i];
        std::sort(pool.begin(), pool.end());  // file order must not matter, duplicates count once
        pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
        const char* name = i < shares.size() ? shares[i].family : "others";
        if (pool.empty()) throw std::runtime_error(std::string("no User-Agent string of family ") + name + " in " + uap_test_yaml);
        weights.push_back(i < shares.size() ? shares[i].percent : kOtherAgentsPercent);
    }
    family_choice_ = {weights.begin(), weights.end()};
}

const std::string& UserAgentPool::pick(std::mt19937_64& rng) {
    const auto& pool = by_family_[family_choice_(rng)];
    return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)];
}

IpPool::IpPool(const std::string& geoip_dat, std::uint64_t seed, int samples) {
    std::unique_ptr<GeoIP, decltype(&GeoIP_delete)> db(GeoIP_open(geoip_dat.c_str(), GEOIP_MEMORY_CACHE), &GeoIP_delete);
    if (!db) throw std::runtime_error("cannot open GeoIP database " + geoip_dat);
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::uint32_t> address(0x01000000u, 0xDFFFFFFFu);  // 1.0.0.0 .. 223.255.255.255
    for (int i = 0; i < samples; ++i) {
        std::uint32_t ip = address(rng);
        const char* code = GeoIP_country_code_by_ipnum(db.get(), ip);
        if (code == nullptr || (code[0] == 'A' && (code[1] == '1' || code[1] == '2' || code[1] == 'P'))) continue;  // anonymous proxy, satellite, Asia/Pacific
        if (code[0] == 'E' && code[1] == 'U') continue;
        in_addr a{htonl(ip)};
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, text, sizeof text);
        auto it = std::find(countries_.begin(), countries_.end(), code);
        if (it == countries_.end()) {
            countries_.emplace_back(code);
            by_country_.emplace_back();
            it = countries_.end() - 1;
        }
        by_country_[it - countries_.begin()].emplace_back(text);
        all_.emplace_back(text);
    }
    if (all_.empty()) throw std::runtime_error("GeoIP database " + geoip_dat + " located no sampled address");
}

const std::string& IpPool::pick(const std::string& country, std::mt19937_64& rng) const {
    auto it = std::find(countries_.begin(), countries_.end(), country);
    const auto& pool = it == countries_.end() ? all_ : by_country_[it - countries_.begin()];
    return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)];
}

}  // namespace starstream::bench
