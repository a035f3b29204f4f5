// The compiled product_view pipeline as the engine's PipelineStage: the JSON decoder, the
// enrichers (user agent, IP geography, referrer, calendar) and the star-row builder, filling
// StarBatch micro-batches. Enrichment cache hit rates go to the probe once a second.
// Thread rules: the poll thread (the decoder and the caches are not shared).
#pragma once

#include "driver/pipeline_stage.h"
#include "enrichment/enrichment.h"
#include "metrics/pipeline_probe.h"
#include "pipeline/product_view/decoder.h"
#include "pipeline/product_view/star_batch_builder.h"

namespace starstream::daemon::product_view {

class ProductViewStage final : public engine::PipelineStage {
public:
    /// Loads the enrichment data (throws std::runtime_error naming a missing file);
    /// `max_event_bytes`: larger messages are dead letters.
    ProductViewStage(const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes, metrics::PipelineProbe& probe);

    std::unique_ptr<engine::MicroBatch> new_batch() override;
    /// time_stamp is Unix seconds; a value beyond the microsecond range saturates (and is out of bounds).
    engine::Decoded decode(std::string_view payload) override;
    /// `batch` must be one of new_batch()'s.
    void append(engine::MicroBatch& batch, const engine::RecordOrigin& origin) override;
    void publish() override;

private:
    enrichment::Enrichment enrichment_;
    Decoder decoder_;
    StarBatchBuilder builder_;
    metrics::PipelineProbe& probe_;
    ProductViewEvent event_;  ///< decoded last
};

}  // namespace starstream::daemon::product_view
