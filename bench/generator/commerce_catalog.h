// The simulated electronics store behind generated commerce events (../shared/EVENTS.md section 2):
// a category taxonomy, a product catalogue and its popularity.
//
// Shapes follow the REES46 electronics sample: a category has a stable 19-digit category_id and
// a dotted category_code (`electronics.smartphone`), empty for many accessory categories;
// brands are lower case and sometimes empty; prices are per product, log-normal around the
// category's median with a long tail of premium models. Thread rules: immutable after
// construction, except the draws, which advance the caller's RNG (one thread).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace starstream::bench {

struct CommerceCategory {
    std::string category_id;    ///< 19 decimal digits, the same for every seed
    std::string category_code;  ///< dotted taxonomy, or "" (accessories, as in the real data)
};

struct CommerceProduct {
    std::string product_id;  ///< 7 decimal digits
    std::size_t category;    ///< index into CommerceCatalog::categories()
    std::string brand;       ///< lower case, may be ""
    std::string price;       ///< decimal with 2 digits, e.g. "31.90"; > 0
};

class CommerceCatalog {
public:
    /// Builds `products` products (distinct ids) from `rng`; deterministic for the RNG's state.
    CommerceCatalog(std::mt19937_64& rng, std::size_t products);

    const std::vector<CommerceCategory>& categories() const { return categories_; }
    const CommerceProduct& product(std::size_t index) const { return products_[index]; }

    /// A product index by overall popularity (Zipf-like: a few hundred products take most views).
    std::size_t popular(std::mt19937_64& rng) { return popularity_(rng); }
    /// A product index of `category` by its popularity there (browsing stays in a category).
    std::size_t in_category(std::size_t category, std::mt19937_64& rng);

private:
    std::vector<CommerceCategory> categories_;
    std::vector<CommerceProduct> products_;
    std::discrete_distribution<std::size_t> popularity_;
    std::vector<std::vector<std::size_t>> by_category_;  ///< product indices, most popular first
    std::vector<std::discrete_distribution<std::size_t>> category_popularity_;
};

}  // namespace starstream::bench
