// Reference figures and pools that make generated product_view events realistic.
//
// Sources: ../shared/EVENTS.md (event-type counts, store shares, null rates, catalogue size),
// the uap-core package's official test cases (real User-Agent strings, weighted by published
// browser market shares) and the geoip-database package (real IPv4 country ranges).
// Thread rules: immutable after load, except UserAgentPool::pick (one thread).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace starstream::bench {

/// One of the 27 event types with its count in the full 41.4 M-event data set.
struct CollectionFigure {
    const char* name;
    double count;
    bool product_page;  ///< true when the event carries a product_id
};

/// The 27 collections of EVENTS.md with their real counts.
const std::vector<CollectionFigure>& collections();

/// A country store: numeric id, share of all events (0..1), domain suffix, ISO country code.
struct StoreFigure {
    int store_id;
    double share;
    std::string tld;      ///< e.g. "de", "co.uk", "com"
    std::string country;  ///< ISO 3166 alpha-2 the store's visitors mostly come from
};

/// 86 store ids in 1..101: the ten largest with their published shares, the rest sharing the
/// remainder with a geometric decay; the two smallest get a near-zero share (EVENTS.md: two
/// stores have a single event each).
std::vector<StoreFigure> stores();

/// A browser family as uap-core names it (`family` of its test cases) and its share of page
/// views in percent (see browser_shares() for the source).
struct BrowserShareFigure {
    const char* family;
    double percent;
};

/// Browser families weighted by their market share in the replay's period (April to June 2020),
/// the rest of the traffic ("others": in-app browsers, rare browsers, bots) excluded.
const std::vector<BrowserShareFigure>& browser_shares();

/// Share of page views, in percent, of every User-Agent outside browser_shares().
constexpr double kOtherAgentsPercent = 1.1;

/// Real User-Agent strings from a uap-core test file (YAML, `test_cases[]` with
/// `user_agent_string` and the expected `family`), drawn so that browser families follow
/// browser_shares(): first a family by its share, then one of its strings uniformly. The
/// "others" share draws among the remaining browser-like strings ("Mozilla/" prefix), crawlers
/// and preview agents that carry a browser's family included (e.g. Google Web Preview, parsed
/// as Chrome on a Spider device).
/// Thread rules: pick() is not thread safe (it advances the caller's RNG and a distribution).
class UserAgentPool {
public:
    /// Throws std::runtime_error if the file cannot be read, or a family of browser_shares()
    /// or the "others" pool has no string in it (a uap-core version that renamed a family).
    explicit UserAgentPool(const std::string& uap_test_yaml);
    /// One User-Agent string; two draws from `rng` (family, then string).
    const std::string& pick(std::mt19937_64& rng);

private:
    std::vector<std::vector<std::string>> by_family_;  ///< browser_shares() order, then others
    std::discrete_distribution<std::size_t> family_choice_;
};

/// IPv4 addresses (dotted quads) grouped by ISO country code, drawn by sampling random public
/// addresses and keeping those that geoip-database places in a country.
class IpPool {
public:
    /// Samples `samples` random addresses; throws std::runtime_error if the database cannot be opened.
    IpPool(const std::string& geoip_dat, std::uint64_t seed, int samples);
    /// An address located in `country` when the pool has one, else one from any country.
    const std::string& pick(const std::string& country, std::mt19937_64& rng) const;

private:
    std::vector<std::string> countries_;
    std::vector<std::vector<std::string>> by_country_;
    std::vector<std::string> all_;
};

}  // namespace starstream::bench
