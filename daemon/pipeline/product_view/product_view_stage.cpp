#include "pipeline/product_view/product_view_stage.h"

#include <limits>

namespace starstream::daemon::product_view {

ProductViewStage::ProductViewStage(const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes,
                                   metrics::PipelineProbe& probe)
    : enrichment_(enrichment), decoder_(max_event_bytes), builder_(enrichment_), probe_(probe) {
    publish();  // the counters' series start at 0, for rate() and the dashboard
}

std::unique_ptr<engine::MicroBatch> ProductViewStage::new_batch() {
    builder_.reset();
    return std::make_unique<StarBatch>();
}

engine::Decoded ProductViewStage::decode(std::string_view payload) {
    engine::Decoded decoded;
    decoded.reason = decoder_.decode(payload, event_);
    if (!decoded.ok()) return decoded;
    constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1000000;
    const std::int64_t seconds = event_.time_stamp;
    decoded.event_time_us = seconds > kLimit    ? std::numeric_limits<std::int64_t>::max()
                            : seconds < -kLimit ? std::numeric_limits<std::int64_t>::min()
                                                : seconds * 1000000;
    decoded.time_text = "time_stamp " + std::to_string(seconds) + " (Unix seconds expected)";
    return decoded;
}

void ProductViewStage::append(engine::MicroBatch& batch, const engine::RecordOrigin& origin) {
    builder_.add_event(static_cast<StarBatch&>(batch), event_, origin.topic_index, origin.partition, origin.offset);
}

void ProductViewStage::publish() {
    probe_.cache_lookups("product_view", "user_agent", enrichment_.user_agent_cache.hits, enrichment_.user_agent_cache.misses);
    probe_.cache_lookups("product_view", "domain", enrichment_.domain_cache.hits, enrichment_.domain_cache.misses);
}

}  // namespace starstream::daemon::product_view
