// Turns decoded events into star-schema rows of a StarBatch: surrogate keys, dimension
// members, date and hour keys (UTC), dedupe of ids within the batch.
//
// Surrogate keys are XXH3-64 hashes of the natural key (DESIGN.md: no round trip per row);
// the schema keeps natural keys UNIQUE so a collision fails the batch loudly.
// Thread rules: one thread (owns a GeoLocator).
#pragma once

#include "pipeline/product_view/geo_locator.h"
#include "pipeline/product_view/product_view_event.h"
#include "pipeline/product_view/star_batch.h"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace starstream::daemon::product_view {

/// The surrogate key of a natural key: XXH3-64 of its bytes, as a signed bigint.
std::int64_t surrogate_key(std::string_view natural_key);

/// Lower-case host of an http(s) URL ("" if there is none).
std::string url_host(std::string_view url);

/// The referrer dimension's domain: the host without a leading "www." or "m.".
std::string referrer_domain(std::string_view referrer_url);

/// The funnel stage of one of the 27 known collections (EVENTS.md); "" for others.
std::string_view funnel_stage(std::string_view collection);

/// YYYYMMDD and hour (0..23) of a Unix time in seconds, UTC.
std::int32_t date_key(std::int64_t unix_seconds);
std::int16_t hour_of_day(std::int64_t unix_seconds);

class StarBatchBuilder {
public:
    explicit StarBatchBuilder(const GeoLocator& geo) : geo_(geo) {}

    /// Starts filling `batch` (clears the in-batch dedupe set).
    void reset();
    /// Adds a decoded event consumed from (topic_index, partition, offset); an id already in
    /// this batch adds nothing (the sink counts it as a duplicate).
    void add_event(StarBatch& batch, ProductViewEvent& event, std::uint16_t topic_index, std::int32_t partition, std::int64_t offset);

private:
    std::int64_t location_key(const char* country_code);

    const GeoLocator& geo_;
    std::unordered_set<EventId, EventIdHash> ids_;
    std::unordered_map<std::uint16_t, std::int64_t> location_keys_;  ///< country code -> surrogate key
};

}  // namespace starstream::daemon::product_view
