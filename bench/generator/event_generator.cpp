#include "event_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace starstream::bench {

namespace {

constexpr int kProducts = 19418;          // EVENTS.md: distinct products in the full data set
constexpr std::size_t kOpenVisits = 400;  // visits interleaved at any moment
constexpr std::size_t kOversizedBytes = 100 * 1024;

void append_escaped(std::string& out, const std::string& text) {
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
}

void field(std::string& out, const char* name, const std::string& value) {
    out += '"';
    out += name;
    out += "\":\"";
    append_escaped(out, value);
    out += "\",";
}

const char* const kSlugWords[] = {"ring", "necklace", "earring", "bracelet", "pendant", "anklet",
                                  "aurelia", "solitaire", "eternity", "halo", "vintage", "classic"};
const char* const kListingPaths[] = {"/rings.html", "/necklaces.html", "/earrings.html",
                                     "/bracelets.html", "/engagement-rings.html", "/wedding-rings.html"};
const char* const kResolutions[] = {"1920x1080", "1366x768", "1536x864", "1440x900", "375x667",
                                    "414x896", "360x640", "390x844", "1280x720", "2560x1440", ""};
const double kResolutionWeights[] = {22, 12, 8, 5, 9, 9, 8, 7, 4, 3, 13};

}  // namespace

const char* to_string(MessageKind kind) {
    switch (kind) {
        case MessageKind::valid: return "valid";
        case MessageKind::duplicate: return "duplicate";
        case MessageKind::bad_json: return "bad_json";
        case MessageKind::missing_id: return "missing_id";
        case MessageKind::wrong_type: return "wrong_type";
        case MessageKind::invalid_utf8: return "invalid_utf8";
        case MessageKind::oversized: return "oversized";
    }
    return "unknown";
}

EventGenerator::EventGenerator(GeneratorOptions options)
    : options_(std::move(options)),
      rng_(options_.seed),
      stores_(stores()),
      user_agents_(options_.uap_test_yaml),
      ips_(options_.geoip_dat, options_.seed, 200000) {
    std::vector<double> store_weights;
    for (const auto& s : stores_) store_weights.push_back(s.share);
    store_choice_ = {store_weights.begin(), store_weights.end()};
    std::vector<double> collection_weights;
    for (const auto& c : collections()) collection_weights.push_back(c.count);
    collection_choice_ = {collection_weights.begin(), collection_weights.end()};
    // Product ids: distinct numbers, popularity Zipf-like (s = 1.1): a few hundred products
    // take most detail views, as in the real data.
    std::uniform_int_distribution<int> id(1000, 130000);
    while (product_ids_.size() < kProducts) {
        product_ids_.push_back(id(rng_));
        if (product_ids_.size() == kProducts) {
            std::sort(product_ids_.begin(), product_ids_.end());
            product_ids_.erase(std::unique(product_ids_.begin(), product_ids_.end()), product_ids_.end());
        }
    }
    std::shuffle(product_ids_.begin(), product_ids_.end(), rng_);
    std::vector<double> popularity(product_ids_.size());
    for (std::size_t i = 0; i < popularity.size(); ++i) popularity[i] = 1.0 / std::pow(double(i + 1), 1.1);
    product_choice_ = {popularity.begin(), popularity.end()};
    for (std::size_t i = 0; i < kOpenVisits; ++i) visits_.push_back(new_visit());
}

std::string EventGenerator::uuid() {
    std::uniform_int_distribution<std::uint64_t> bits;
    std::uint64_t hi = bits(rng_), lo = bits(rng_);
    hi = (hi & ~0xF000ull) | 0x4000ull;                            // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;     // RFC 4122 variant
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(hi >> 32), unsigned(hi >> 16) & 0xFFFF,
                  unsigned(hi) & 0xFFFF, unsigned(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return buf;
}

EventGenerator::Visit EventGenerator::new_visit() {
    Visit v;
    v.device_id = uuid();
    v.store = store_choice_(rng_);
    // Most visitors of a country store come from that country; the rest from anywhere.
    std::bernoulli_distribution local(0.8);
    v.ip = ips_.pick(local(rng_) ? stores_[v.store].country : "", rng_);
    v.user_agent = user_agents_.pick(rng_);
    std::discrete_distribution<int> res(std::begin(kResolutionWeights), std::end(kResolutionWeights));
    v.resolution = kResolutions[res(rng_)];
    if (std::bernoulli_distribution(0.05)(rng_)) v.customer_id = std::to_string(std::uniform_int_distribution<int>(1, 900000)(rng_));
    v.events_left = 1 + std::geometric_distribution<int>(0.08)(rng_);  // mean about 12 events
    return v;
}

std::int64_t EventGenerator::event_time() {
    double progress = options_.events > 1 ? double(produced_) / double(options_.events - 1) : 0.0;
    double t = double(options_.start_time) + progress * double(options_.span_seconds);
    if (options_.out_of_order_seconds > 0) t -= std::uniform_real_distribution<double>(0, options_.out_of_order_seconds)(rng_);
    if (options_.late_share > 0 && std::bernoulli_distribution(options_.late_share)(rng_)) t -= options_.late_seconds;
    return static_cast<std::int64_t>(t);
}

std::string EventGenerator::shop_origin(const StoreFigure& store) {
    // About 1 % of page views come from the shop's staging site (QA traffic the tracker also sees).
    return std::string(std::bernoulli_distribution(0.01)(rng_) ? "https://staging" : "https://www") + ".shop." + store.tld;
}

std::string EventGenerator::product_url(const StoreFigure& store, int product_index, bool with_options) {
    std::string url = shop_origin(store) + "/" + kSlugWords[product_index % 6] + "-" +
                      kSlugWords[6 + product_index % 6] + "-" + std::to_string(product_ids_[product_index]) + ".html";
    if (with_options) url += "?alloy=white-585&diamond=sapphire";
    if (std::bernoulli_distribution(0.1)(rng_)) url += with_options ? "&utm_source=facebook" : "?utm_source=facebook";
    return url;
}

std::string EventGenerator::page_url(const StoreFigure& store, const std::string& collection) {
    std::string base = shop_origin(store);
    if (collection == "view_home_page") return base + "/";
    if (collection == "view_shopping_cart" || collection == "add_to_cart_action") return base + "/checkout/cart/";
    if (collection.rfind("checkout", 0) == 0) return base + "/checkout/onepage/" + (collection == "checkout_success" ? "success/" : "");
    if (collection == "view_my_account") return base + "/customer/account/";
    if (collection == "search_box_action") return base + "/catalogsearch/result/?q=ring";
    if (collection == "view_static_page") return base + "/about-us";
    if (collection.rfind("landing_page", 0) == 0 || collection == "view_landing_page") return base + "/landing/valentine.html";
    return base + kListingPaths[std::uniform_int_distribution<std::size_t>(0, std::size(kListingPaths) - 1)(rng_)];
}

std::string EventGenerator::options_json(int product_index) {
    std::string out = "[{\"option_label\":\"alloy\",\"option_id\":\"" + std::to_string(330000 + product_index % 97) +
                      "\",\"value_label\":\"\",\"value_id\":\"" + std::to_string(3264000 + product_index % 13) + "\"}";
    if (std::bernoulli_distribution(0.4)(rng_))
        out += ",{\"option_label\":\"diamond\",\"option_id\":\"" + std::to_string(330500 + product_index % 31) +
               "\",\"value_label\":\"sapphire\",\"value_id\":\"" + std::to_string(3265000 + product_index % 7) + "\"}";
    return out + "]";
}

std::string EventGenerator::valid_event(Visit& visit, std::string& key) {
    const StoreFigure& store = stores_[visit.store];
    const CollectionFigure& collection = collections()[collection_choice_(rng_)];
    const std::string name = collection.name;
    std::int64_t ts = event_time();

    std::string e;
    e.reserve(1024);
    e += '{';
    field(e, "id", uuid());
    char doc_id[25];
    std::snprintf(doc_id, sizeof doc_id, "%016llx%08x", static_cast<unsigned long long>(rng_()), unsigned(rng_()));
    field(e, "_id", doc_id);
    e += "\"time_stamp\":" + std::to_string(ts) + ",";
    std::time_t local = ts + 7 * 3600;  // the replay's shop clock is UTC+7
    char local_time[32];
    std::strftime(local_time, sizeof local_time, "%Y-%m-%d %H:%M:%S", std::gmtime(&local));
    field(e, "local_time", local_time);
    field(e, "ip", visit.ip);
    field(e, "user_agent", visit.user_agent);
    field(e, "resolution", visit.resolution);
    field(e, "device_id", visit.device_id);
    field(e, "user_id_db", visit.customer_id);
    field(e, "email_address", visit.customer_id.empty() ? "" : "customer" + visit.customer_id + "@example.com");
    field(e, "api_version", "1.0");
    field(e, "store_id", std::to_string(store.store_id));

    int product = static_cast<int>(product_choice_(rng_));
    bool option_event = name.rfind("select_product_option", 0) == 0;
    std::string url = collection.product_page ? product_url(store, product, option_event) : page_url(store, name);
    field(e, "current_url", url);

    // Referrer: missing for about 9 % (half absent, half ""); inside a visit mostly the previous page.
    std::uniform_real_distribution<double> u(0, 1);
    double r = u(rng_);
    if (r < 0.045) {
        // field absent
    } else if (r < 0.09) {
        field(e, "referrer_url", "");
    } else if (!visit.last_url.empty() && r < 0.55) {
        field(e, "referrer_url", visit.last_url);
    } else if (r < 0.80) {
        field(e, "referrer_url", std::bernoulli_distribution(0.5)(rng_) ? "https://www.facebook.com/" : "https://m.facebook.com/");
    } else if (r < 0.92) {
        field(e, "referrer_url", "https://www.google." + store.tld + "/");
    } else {
        static const char* const others[] = {"https://www.instagram.com/", "https://www.bing.com/search?q=rings",
                                             "https://www.pinterest.com/", "https://mail.yahoo.com/", "https://t.co/abc",
                                             "https://mail.google.com/mail/u/0/", "https://blog.example.org/best-rings"};
        field(e, "referrer_url", others[std::uniform_int_distribution<std::size_t>(0, std::size(others) - 1)(rng_)]);
    }
    field(e, "collection", name);
    if (collection.product_page) {
        field(e, "product_id", std::to_string(product_ids_[product]));
    } else if (name == "product_view_all_recommend_clicked") {
        field(e, "product_id", "");
        field(e, "viewing_product_id", std::to_string(product_ids_[product]));
    } else if (u(rng_) < 0.5) {
        field(e, "product_id", "");
    }
    e += "\"option\":";
    e += option_event ? options_json(product) : "\"\"";
    e += ',';
    field(e, "show_recommendation", u(rng_) < 0.7 ? "true" : "false");
    e += "\"recommendation\":false,\"utm_source\":false,\"utm_medium\":false}";

    visit.last_url = std::move(url);
    key = visit.device_id;
    return e;
}

Message EventGenerator::malformed(std::string event, std::string key) {
    auto kind = static_cast<MessageKind>(2 + std::uniform_int_distribution<int>(0, 4)(rng_));
    switch (kind) {
        case MessageKind::bad_json: event.resize(event.size() / 2); break;
        case MessageKind::missing_id: event.replace(0, event.find(',') + 1, "{"); break;
        case MessageKind::wrong_type: {
            auto at = event.find("\"time_stamp\":") + 13;
            auto end = event.find(',', at);
            event = event.substr(0, at) + '"' + event.substr(at, end - at) + '"' + event.substr(end);
            break;
        }
        case MessageKind::invalid_utf8: event.insert(event.find("\"user_agent\":\"") + 14, "\xC3\x28"); break;
        case MessageKind::oversized:
            event.insert(event.size() - 1, ",\"padding\":\"" + std::string(kOversizedBytes, 'x') + "\"");
            break;
        default: break;
    }
    return {std::move(key), std::move(event), kind};
}

Message EventGenerator::next() {
    std::uniform_real_distribution<double> u(0, 1);
    ++produced_;
    if (!recent_valid_.empty() && u(rng_) < options_.duplicate_share) {
        Message again = recent_valid_[std::uniform_int_distribution<std::size_t>(0, recent_valid_.size() - 1)(rng_)];
        again.kind = MessageKind::duplicate;
        return again;
    }
    Visit& visit = visits_[std::uniform_int_distribution<std::size_t>(0, visits_.size() - 1)(rng_)];
    std::string key;
    std::string event = valid_event(visit, key);
    if (--visit.events_left <= 0) visit = new_visit();
    if (u(rng_) < options_.malformed_share) return malformed(std::move(event), std::move(key));
    Message message{std::move(key), std::move(event), MessageKind::valid};
    if (recent_valid_.size() < 1000) {
        recent_valid_.push_back(message);
    } else {
        recent_valid_[produced_ % 1000] = message;
    }
    return message;
}

}  // namespace starstream::bench
