// Turns decoded events into star-schema rows of a StarBatch: surrogate keys, enriched dimension
// members, date and hour keys in the reporting time zone, dedupe of ids within the batch.
//
// Surrogate keys are XXH3-64 hashes of the natural key (DESIGN.md: no round trip per row);
// the schema keeps natural keys UNIQUE so a collision fails the batch loudly.
// Thread rules: one thread (uses the Enrichment's caches).
#pragma once

#include "pipeline/surrogate_key.h"

#include "enrichment/enrichment.h"
#include "pipeline/product_view/product_view_event.h"
#include "pipeline/product_view/star_batch.h"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace starstream::daemon::product_view {

using daemon::surrogate_key;

/// The funnel stage of one of the 27 known collections (EVENTS.md): browse, product, cart,
/// checkout, purchase, recommendation, account or search; "" for others.
std::string_view funnel_stage(std::string_view collection);

/// The product an event is about: `viewing_product_id` for product_view_all_recommend_clicked
/// (its product_id is empty: the click opens the list of recommendations for the product being
/// viewed), `product_id` otherwise; "" when none.
const std::string& event_product(const ProductViewEvent& event);
/// Whether the event is about the product it was viewing rather than the page it is on.
bool names_viewed_product(const ProductViewEvent& event);

class StarBatchBuilder {
public:
    explicit StarBatchBuilder(enrichment::Enrichment& enrichment) : enrichment_(enrichment) {}

    /// Starts filling `batch` (clears the in-batch dedupe set).
    void reset();
    /// Adds a decoded event consumed from (topic_index, partition, offset); an id already in
    /// this batch adds nothing (the sink counts it as a duplicate).
    void add_event(StarBatch& batch, ProductViewEvent& event, std::uint16_t topic_index, std::int32_t partition, std::int64_t offset);

private:
    void add_store(StarBatch& batch, FactRow& fact, const ProductViewEvent& e, const std::string& registrable_domain);
    void add_product(StarBatch& batch, FactRow& fact, const ProductViewEvent& e);
    void add_location(StarBatch& batch, FactRow& fact, const ProductViewEvent& e);
    void add_user_agent(StarBatch& batch, FactRow& fact, const ProductViewEvent& e);
    void add_referrer(StarBatch& batch, FactRow& fact, const ProductViewEvent& e, const std::string& shop_site_name);
    void add_collection(StarBatch& batch, FactRow& fact, const ProductViewEvent& e);

    enrichment::Enrichment& enrichment_;
    std::unordered_set<EventId, EventIdHash> ids_;
};

}  // namespace starstream::daemon::product_view
