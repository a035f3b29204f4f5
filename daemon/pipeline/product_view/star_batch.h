// One micro-batch of product_view data shaped for the star schema: fact rows and the dimension
// members they reference (deduplicated within the batch), on the engine's MicroBatch header
// (dead letters, offset gaps and the checkpoint that commit with them).
// Thread rules: built on the consume thread, then moved to the sink thread; never shared.
#pragma once

#include "batch/micro_batch.h"
#include "enrichment/user_agent_parser.h"
#include "source/topic_partition.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace starstream::daemon::product_view {

using engine::PartitionPosition;
using engine::TopicPartition;

/// An event id (UUID) as 16 bytes, and a hash for unordered containers of them.
using EventId = std::array<std::uint8_t, 16>;
struct EventIdHash {
    std::size_t operator()(const EventId& id) const {
        std::uint64_t a, b;
        std::memcpy(&a, id.data(), 8);
        std::memcpy(&b, id.data() + 8, 8);
        return a ^ (b * 0x9E3779B97F4A7C15ull);
    }
};

/// A string kept in StarBatch::text (offset and size in bytes): one allocation per batch
/// instead of one per string, and a 8-byte field instead of a 32-byte std::string.
struct TextRef {
    std::uint32_t offset = 0, size = 0;
    bool empty() const { return size == 0; }
};

/// A fact_event row. Times are Unix microseconds (UTC); keys are dimension surrogate keys.
struct FactRow {
    std::array<std::uint8_t, 16> event_id{};
    std::int64_t event_time_us = 0;
    std::int32_t date_key = 0;  ///< YYYYMMDD
    std::int16_t hour = 0;
    std::int64_t store_key = 0, location_key = 0, user_agent_key = 0, referrer_key = 0, collection_key = 0;
    std::int64_t product_key = 0;
    bool has_product = false;
    TextRef device_id, customer_id, resolution, current_url, options_json;  ///< in StarBatch::text
    std::array<std::uint8_t, 16> ip{};  ///< network byte order; v4 uses the first 4 bytes
    std::uint8_t ip_family = 0;         ///< 0 = no valid address, 4 or 6
    std::uint16_t topic_index = 0;      ///< index into StarBatch::topics
    std::int32_t partition = 0;
    std::int64_t offset = 0;
};

/// Time range of a member within the batch, Unix microseconds.
struct SeenRange {
    std::int64_t first = 0, last = 0;
    void widen(std::int64_t t) {
        if (t < first) first = t;
        if (t > last) last = t;
    }
};

/// An attribute taken from the earliest event that carries one (ties: the smaller value), so
/// that any batch boundaries, replays included, give the same member. `seen` is that event's
/// time in Unix microseconds, kNever while no event carried the attribute (an inferred member).
struct EarliestValue {
    static constexpr std::int64_t kNever = INT64_MAX;
    std::string value;
    std::int64_t seen = kNever;
    /// Takes `candidate` seen at `t` if it is earlier; returns true if it was taken. "" never is.
    bool offer(std::string candidate, std::int64_t t) {
        if (candidate.empty() || t > seen || (t == seen && candidate >= value)) return false;
        value = std::move(candidate), seen = t;
        return true;
    }
    bool known() const { return seen != kNever; }
};

struct StoreMember { std::string store_id; EarliestValue domain; std::string country_code; SeenRange seen; };
struct ProductMember { std::string product_id; EarliestValue url; SeenRange seen; };
struct LocationMember { std::string country_code, country_name, region, city; };
struct UserAgentMember { std::string user_agent; enrichment::UserAgent parsed; };
struct ReferrerMember { std::string domain, channel; };
struct CollectionMember { std::string collection, funnel_stage; };

struct StarBatch;

/// The facts [begin, end) of a batch and the dimension members they reference: what a
/// bisection probe writes, and what rejected facts take with them.
struct MemberKeys {
    std::size_t begin = 0, end = 0;
    std::unordered_set<std::int64_t> members;  ///< surrogate keys of any dimension
    std::set<std::int32_t> dates;
    static MemberKeys of(const StarBatch& batch, std::size_t begin, std::size_t end);
    /// Adds the members `fact` references (not to the range).
    void add(const FactRow& fact);
};

/// product_view's rows of one micro-batch; the header (id, topics, counts, dead letters,
/// checkpoint, offset gaps) is engine::MicroBatch's.
struct StarBatch final : engine::MicroBatch {
    std::vector<FactRow> facts;
    std::string text;  ///< the bytes of every FactRow TextRef
    std::unordered_map<std::int64_t, StoreMember> stores;
    std::unordered_map<std::int64_t, ProductMember> products;
    std::unordered_map<std::int64_t, LocationMember> locations;
    std::unordered_map<std::int64_t, UserAgentMember> user_agents;
    std::unordered_map<std::int64_t, ReferrerMember> referrers;
    std::unordered_map<std::int64_t, CollectionMember> collections;
    std::set<std::int32_t> date_keys;
    std::int64_t min_event_time_us = INT64_MAX, max_event_time_us = INT64_MIN;

    TextRef keep(std::string_view s) {
        TextRef ref{static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(s.size())};
        text.append(s);
        return ref;
    }
    std::string_view view(TextRef ref) const { return std::string_view(text).substr(ref.offset, ref.size); }

private:
    /// The facts of `partitions` leave; dimension members stay: merging a member nobody
    /// references changes nothing wrong.
    void drop_rows(const std::set<TopicPartition>& partitions) override;
    /// The rejected facts (RejectedRow::row indexes facts) leave, with the members only they
    /// referenced (those would be rejected again, or be orphans).
    void remove_rows(const std::vector<engine::RejectedRow>& rejected) override;
};

}  // namespace starstream::daemon::product_view
