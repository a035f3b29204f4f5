// A pipeline spec as the engine's PipelineStage: RecordDecoder (typed fields and their rules),
// then the spec's enrichers, each dimension's member key (MemberKeys) and which window filters
// pass (RecordFilters), into SpecBatch rows, folded by the window operators (window_fold.h). The
// event time is the spec's event.time field.
// Text: decode() keeps a record's text in a scratch arena (DecodedRecord::text, cleared per
// record), where the enrichers store theirs too; append() copies the record's text into the
// batch's arena (SpecBatch::arena): a value batches repeat (a dimension's key or attribute, an
// enricher's output) once per batch, any other once per record (and once for the fields of a
// record that read one pointer and hold equal text).
// Thread rules: the poll thread.
#pragma once

#include "driver/pipeline_stage.h"
#include "enrichment/enrichment.h"
#include "metrics/pipeline_probe.h"
#include "spec/enricher_runtime.h"
#include "spec/member_keys.h"
#include "spec/pipeline_spec.h"
#include "spec/record_filters.h"
#include "spec/record_decoder.h"
#include "spec/spec_batch.h"
#include "spec/session_fold.h"
#include "spec/window_fold.h"

#include <memory>
#include <vector>

namespace starstream::daemon::spec {

class SpecStage final : public engine::PipelineStage {
public:
    /// `spec` is a validated spec (spec_reader.h) and must outlive the stage, as must `probe`
    /// (nullptr: no metrics); loads the enrichment data (throws ConfigError naming a key whose
    /// file cannot be used).
    SpecStage(const PipelineSpec& spec, const enrichment::EnrichmentSettings& enrichment, std::size_t max_event_bytes,
              metrics::PipelineProbe* probe = nullptr);

    /// An empty SpecBatch with an empty fold per window table (but global ones).
    std::unique_ptr<engine::MicroBatch> new_batch() override;
    engine::Decoded decode(std::string_view payload) override;
    /// `batch` must be one of new_batch()'s.
    void append(engine::MicroBatch& batch, const engine::RecordOrigin& origin) override;
    /// Seals the batch's window folds (sorts their members and admitted records).
    void seal(engine::MicroBatch& batch) override;

    const ReferenceLayout& layout() const { return layout_; }
    /// The enrichment caches' lookup counters (starstream_enrichment_cache_lookups_total).
    void publish() override;

private:
    const PipelineSpec& spec_;
    metrics::PipelineProbe* probe_;
    ReferenceLayout layout_;
    enrichment::Enrichment enrichment_;
    RecordDecoder decoder_;
    EnricherRuntime enrichers_;
    MemberKeys member_keys_;
    RecordFilters filters_;
    std::vector<std::shared_ptr<const FoldedWindow>> folded_windows_;    ///< folded_windows(spec_)
    std::vector<std::shared_ptr<const FoldedSession>> folded_sessions_;  ///< folded_sessions(spec_)
    std::size_t time_field_;
    std::string time_encoding_;  ///< "Unix seconds expected": how the event time is read, for messages
    DecodedRecord record_;      ///< decoded last
    std::int64_t time_us_ = 0;  ///< its event time
    /// Lookups after which a repeated value whose lookups found mostly new text is no longer
    /// interned in the batch.
    static constexpr std::size_t kInternTrial = 1024;
    struct InternCount {
        std::size_t lookups = 0, added = 0;  ///< in the current batch
    };
    std::vector<bool> repeated_;            ///< per layout index: interned (repeated_values)
    std::vector<std::size_t> same_pointer_;  ///< per layout index: an earlier field of its pointer, or npos
    std::vector<InternCount> intern_counts_;  ///< per layout index

    /// Moves the text of record_'s values from its scratch arena into `batch_arena`.
    void keep_text(TextArena& batch_arena);
};

}  // namespace starstream::daemon::spec
