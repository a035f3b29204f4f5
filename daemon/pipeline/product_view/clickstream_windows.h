// The clickstream's windowed aggregates, over the engine's WindowOperator:
//   hourly_product_views  tumbling 1 h, update mode: product detail views and distinct visitors
//                         per product, store and visitor country;
//   product_view_panes    tumbling 5 min, append (final) mode: product detail views per product, the
//                         panes of the trending products' hopping windows (1 h every 5 min; the
//                         view trending_products sums 12 panes per window);
//   visits                session windows per device (gap windows.visit_gap_ms), update mode:
//                         events, product views, first and last URL, whether checkout_success was reached.
// Operators run per Kafka partition, so their state moves with the partition: each batch loads
// the state of partitions this instance has not seen under their current owner epoch (a claim
// bumps the epoch), feeds the batch's new facts in offset order (each after advancing to the
// operator watermark at its arrival, FactRow::watermark_us, against which lateness is judged),
// advances every owned partition's operators to the batch's operator watermark, and returns
// the rows to write and the state to commit with them. After a failed transaction, forget() drops all state so that
// the next attempt reloads what Postgres committed.
// Thread rules: one thread (the sink thread).
#pragma once

#include "pipeline/product_view/star_batch.h"
#include "pipeline/product_view/window_settings.h"
#include "window/window_operator.h"

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace starstream::daemon::product_view {

/// The windowed table's name, also the operator's name in starstream.window_state and late_event.
const char* windowed_table_name(WindowedTable table);

/// What one partition's operators produced in a batch.
struct PartitionWindows {
    TopicPartition partition;
    std::array<std::vector<engine::WindowRow>, kWindowedTables> rows;
    std::array<std::vector<engine::LateRecord>, kWindowedTables> late;
    std::array<std::string, kWindowedTables> state;  ///< encoded; "" = unchanged, nothing to write
    /// Late records of this batch per table: dropped, dead-lettered, corrected.
    std::array<std::array<std::uint64_t, 3>, kWindowedTables> late_counts{};
};

class ClickstreamWindows {
public:
    using EventIdSet = std::unordered_set<EventId, EventIdHash>;
    /// Reads a partition's committed state of one operator (encoded), nullopt when there is none.
    using StateLoader = std::function<std::optional<std::string>(const TopicPartition&, const char* table)>;

    /// Throws std::invalid_argument on invalid settings.
    explicit ClickstreamWindows(WindowSettings settings);

    /// Applies `batch`: facts whose id is in `committed` were counted by an earlier batch and
    /// are skipped. Returns one entry per partition of batch.checkpoint whose operators changed.
    std::vector<PartitionWindows> apply(const StarBatch& batch, const EventIdSet& committed, const StateLoader& load);
    /// Drops all state (after a rollback): the next apply() reloads it.
    void forget() { partitions_.clear(); }

private:
    struct Owned {
        std::int64_t epoch = 0;
        std::vector<engine::WindowOperator> operators;
    };
    Owned& owned(const TopicPartition& tp, std::int64_t epoch, const StateLoader& load);
    void feed(Owned& partition, const StarBatch& batch, const FactRow& fact);

    WindowSettings settings_;
    std::int64_t view_product_detail_ = 0, checkout_success_ = 0;  ///< collection surrogate keys
    std::map<TopicPartition, Owned> partitions_;
};

}  // namespace starstream::daemon::product_view
