// The enrichers of a pipeline spec at run time: each named enricher (spec/enricher_catalog.h)
// computes its outputs from its inputs with daemon/enrichment's lookups, so a spec reaches the
// same user-agent parse, geography, domains, referrer channel, canonical URL and reporting
// calendar as the compiled product_view pipeline. A null or empty input gives null outputs
// (calendar: none without an event time; user_agent parses a header "" that a field's default
// gave, as the compiled pipeline parses a missing one), except where the compiled pipeline keeps a member
// for it: ip_geography gives the unknown location (ZZ, region and city '') for no or no valid
// address, and region and city '' when the database knows none; referrer_channel's domain is ''
// for no referrer (direct traffic) or a host without a registrable domain. record_origin gives
// where the record was read (lineage); taxonomy_levels splits a category code into levels
// (its code output '' rather than null when absent).
// Values: a record's references laid out as the spec's fields in order, then each enricher's
// outputs in catalog order (ReferenceLayout).
// Text outputs are stored in the arena apply() is given (the record's scratch arena: SpecStage).
// Thread rules: one thread (the poll thread: Enrichment's caches are not shared).
#pragma once

#include "enrichment/enrichment.h"
#include "spec/pipeline_spec.h"
#include "spec/record_decoder.h"

#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

/// Where each reference of a spec ("price", "calendar.date_key") sits in a record's values.
class ReferenceLayout {
public:
    explicit ReferenceLayout(const PipelineSpec& spec);
    /// The index of `ref`; throws std::out_of_range for a reference the spec does not define
    /// (spec_reader refuses those, so this is a programmer error).
    std::size_t at(const std::string& ref) const { return index_.at(ref); }
    std::size_t size() const { return index_.size(); }

private:
    std::map<std::string, std::size_t> index_;
};

/// Where a record was read: its Kafka topic, partition and offset.
struct RecordPosition {
    std::string_view topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
};

/// taxonomy_levels: a dotted category code's first, second and remaining levels
/// ("electronics.audio.headphone" -> electronics, audio, headphone; "kids.toys" -> kids, toys,
/// ""; "a.b.c.d" -> a, b, "c.d"; "" -> three empty levels). Views into `code`.
std::array<std::string_view, 3> taxonomy_levels(std::string_view code);

class EnricherRuntime {
public:
    /// Compiles the spec's enrichers over `enrichment` (which must outlive this object).
    EnricherRuntime(const PipelineSpec& spec, const ReferenceLayout& layout, enrichment::Enrichment& enrichment);

    /// Appends every enricher's outputs to `values` (the record's fields, decoded, read at
    /// `position`), in layout order, their text stored in `arena`.
    void apply(std::vector<FieldValue>& values, const RecordPosition& position, TextArena& arena);

private:
    using Apply = std::function<void(std::vector<FieldValue>& values, const RecordPosition& position, TextArena& arena)>;
    std::vector<Apply> enrichers_;
};

}  // namespace starstream::daemon::spec
