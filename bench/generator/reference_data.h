// Reference figures and pools that make generated product_view events realistic.
//
// Sources: ../shared/EVENTS.md (event-type counts, store shares, null rates, catalogue size),
// the uap-core package's official test cases (real User-Agent strings) and the
// geoip-database package (real IPv4 country ranges). Thread rules: immutable after load.
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

/// Loads real User-Agent strings from a uap-core test file (YAML, `test_cases[].user_agent_string`)
/// with yaml-cpp, keeping browser-like ones ("Mozilla/" prefix). Throws std::runtime_error if
/// the file cannot be read or yields no strings.
std::vector<std::string> load_user_agents(const std::string& uap_test_yaml);

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
