// What a pipeline does with each record between the source and the micro-batch (DESIGN.md data
// flow: decode -> event time -> operators): it decodes the bytes into a typed record or a
// dead-letter reason, gives the record's event time to the driver (which checks its bounds and
// moves the watermark), then appends the record's rows to the open batch. Each pipeline (a
// compiled one, a spec's) implements it with its own batch type.
// Thread rules: every method on the poll thread (Flink's KafkaRecordDeserializationSchema).
#pragma once

#include "batch/micro_batch.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace starstream::engine {

/// A decoded record, kept by the stage until append(): its event time, or why it is a dead letter.
struct Decoded {
    std::string reason;             ///< empty when the record decoded; else the dead letter's reason
    std::int64_t event_time_us = 0;  ///< Unix microseconds; saturated when the value does not fit
    std::string time_text;          ///< the event time as written, for messages: "time_stamp 1700000000 (Unix seconds)"
    bool ok() const { return reason.empty(); }
};

/// Where a record came from: its topic's index in the batch, partition and offset.
struct RecordOrigin {
    std::uint16_t topic_index = 0;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
};

class PipelineStage {
public:
    virtual ~PipelineStage() = default;

    /// An empty batch of this pipeline's type.
    virtual std::unique_ptr<MicroBatch> new_batch() = 0;
    /// Decodes one record's bytes. Never throws for bad input: a reason instead.
    virtual Decoded decode(std::string_view payload) = 0;
    /// Appends the record decoded last (ok(), event time within bounds) to `batch`, one of
    /// new_batch()'s: enrichment, dimension members, fact rows.
    virtual void append(MicroBatch& batch, const RecordOrigin& origin) = 0;
    /// `batch` is about to be handed to the sink: the stage finishes its operators' partials (a
    /// sort, say) here, on the poll thread, while the sink still writes the previous batch. A
    /// hand-off that has to wait may append more records and seal again.
    virtual void seal(MicroBatch& /*batch*/) {}
    /// Once a second: the stage publishes its own metrics (enrichment caches...).
    virtual void publish() {}
};

}  // namespace starstream::engine
