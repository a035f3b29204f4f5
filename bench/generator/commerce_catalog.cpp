#include "commerce_catalog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace starstream::bench {

namespace {

/// A category of the simulated store: its code, its share of the catalogue, the median price
/// of its products (in the store's currency) and the brands it sells ("" entries: no brand).
struct CategoryFigure {
    const char* code;
    double share;
    double median_price;
    std::vector<const char*> brands;
};

// Modelled on the REES46 electronics sample's top categories; about a quarter of the
// catalogue has no category_code (cables, cases, adapters...), and those rarely a brand.
const std::vector<CategoryFigure>& category_figures() {
    static const std::vector<CategoryFigure> figures = {
        {"electronics.smartphone", 0.14, 230, {"samsung", "apple", "xiaomi", "huawei", "oppo", "honor", "meizu"}},
        {"electronics.audio.headphone", 0.06, 40, {"sony", "jbl", "samsung", "apple", "xiaomi", "sennheiser"}},
        {"electronics.video.tv", 0.05, 420, {"samsung", "lg", "sony", "philips", "xiaomi"}},
        {"electronics.clocks", 0.04, 150, {"apple", "samsung", "garmin", "casio", "amazfit"}},
        {"electronics.tablet", 0.03, 260, {"apple", "samsung", "lenovo", "huawei"}},
        {"electronics.camera.photo", 0.015, 520, {"canon", "nikon", "sony", "fujifilm"}},
        {"electronics.telephone", 0.02, 30, {"panasonic", "gigaset", "samsung", ""}},
        {"computers.notebook", 0.08, 700, {"asus", "lenovo", "hp", "acer", "apple", "dell", "msi"}},
        {"computers.desktop", 0.02, 600, {"hp", "lenovo", "dell", "acer"}},
        {"computers.components.videocards", 0.035, 380, {"msi", "gigabyte", "asus", "palit", "sapphire"}},
        {"computers.components.memory", 0.02, 55, {"kingston", "corsair", "crucial", "samsung", "patriot"}},
        {"computers.peripherals.mouse", 0.025, 20, {"logitech", "razer", "a4tech", "defender", "genius"}},
        {"computers.peripherals.printer", 0.015, 170, {"hp", "canon", "epson", "brother"}},
        {"appliances.kitchen.refrigerators", 0.03, 480, {"samsung", "lg", "bosch", "indesit", "atlant"}},
        {"appliances.kitchen.washer", 0.025, 350, {"samsung", "lg", "bosch", "indesit", "beko"}},
        {"appliances.environment.vacuum", 0.03, 150, {"samsung", "xiaomi", "dyson", "philips", "lg"}},
        {"appliances.personal.hair_cutter", 0.01, 35, {"philips", "braun", "remington", "panasonic"}},
        {"appliances.iron", 0.01, 40, {"philips", "tefal", "braun", "bosch"}},
        {"auto.accessories.player", 0.01, 60, {"pioneer", "alpine", "kenwood", "prology"}},
        {"construction.tools.drill", 0.01, 90, {"bosch", "makita", "dewalt", "metabo"}},
        {"furniture.kitchen.table", 0.005, 120, {"", "ikea"}},
        {"sport.bicycle", 0.005, 280, {"stels", "merida", "forward"}},
        {"kids.toys", 0.01, 25, {"lego", "hasbro", "mattel"}},
        {"", 0.07, 8, {"", "", "", "defender", "sven", "gembird", "cablexpert"}},
        {"", 0.05, 15, {"", "", "", "belkin", "baseus", "hoco"}},
        {"", 0.04, 25, {"", "", "kingston", "sandisk", "transcend"}},
        {"", 0.03, 12, {"", "", "", "", "ritmix", "perfeo"}},
        {"", 0.03, 45, {"", "", "tp-link", "d-link", "zyxel"}},
        {"", 0.025, 5, {"", "", "", "", "", "buro"}},
    };
    return figures;
}

/// 64-bit FNV-1a: category ids must not depend on the seed, only on the category.
std::uint64_t fnv1a(const std::string& text) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

std::string format_price(double price) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", price);
    return text;
}

}  // namespace

CommerceCatalog::CommerceCatalog(std::mt19937_64& rng, std::size_t products) {
    const auto& figures = category_figures();
    std::vector<double> shares;
    for (std::size_t i = 0; i < figures.size(); ++i) {
        // REES46 category ids are 19 digits starting 2144415...; the index keeps the empty-code
        // categories apart.
        const std::uint64_t id = 2144415920000000000ull + fnv1a(std::string(figures[i].code) + "#" + std::to_string(i)) % 10000000000ull;
        categories_.push_back({std::to_string(id), figures[i].code});
        shares.push_back(figures[i].share);
    }
    std::discrete_distribution<std::size_t> category_choice(shares.begin(), shares.end());
    std::uniform_int_distribution<int> product_id(1000000, 9999999);
    std::normal_distribution<double> log_spread(0.0, 0.6);
    std::bernoulli_distribution premium(0.03);  // the long tail: flagship models at several times the median
    std::unordered_set<int> taken;
    by_category_.resize(categories_.size());
    while (products_.size() < products) {
        int id = product_id(rng);
        if (!taken.insert(id).second) continue;
        const std::size_t category = category_choice(rng);
        const auto& figure = figures[category];
        const auto& brands = figure.brands;
        std::string brand = brands[std::uniform_int_distribution<std::size_t>(0, brands.size() - 1)(rng)];
        double price = figure.median_price * std::exp(log_spread(rng));
        if (premium(rng)) price *= std::uniform_real_distribution<double>(3, 8)(rng);
        by_category_[category].push_back(products_.size());
        products_.push_back({std::to_string(id), category, std::move(brand), format_price(std::max(price, 0.5))});
    }
    // Popularity follows the product's index (ids are random, so the order means nothing else).
    std::vector<double> weights(products_.size());
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / std::pow(double(i + 1), 1.05);
    popularity_ = {weights.begin(), weights.end()};
    for (const auto& members : by_category_) {
        std::vector<double> w;
        for (std::size_t index : members) w.push_back(weights[index]);
        if (w.empty()) w.push_back(1.0);  // a category without products is never drawn from (no view leads there)
        category_popularity_.emplace_back(w.begin(), w.end());
    }
}

std::size_t CommerceCatalog::in_category(std::size_t category, std::mt19937_64& rng) {
    return by_category_[category][category_popularity_[category](rng)];
}

}  // namespace starstream::bench
