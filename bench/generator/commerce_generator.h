// Deterministic generator of REES46-style commerce events (../shared/EVENTS.md section 2):
// views, cart adds, cart removals and purchases of a simulated electronics store.
//
// Visits: a pool of open visits, each a user browsing the catalogue (mostly within a
// category). Half the visits are of regulars, drawn by a heavy-tailed activity weight (a few are
// very active), half of occasional visitors, most of whom come once. Funnels: a cart add is of
// the product the visit viewed last and decides its fate (bought, removed or abandoned); a later
// step of the user (in this visit or another) settles it with a purchase or a removal, so every
// purchase follows a cart add of the same product by the same user, and abandoned cart adds stay
// in the cart. A user's `user_session` (10 letters) changes when the user's previous event is
// more than 30 minutes of event time back. Event time advances evenly over `span_seconds` from
// `start_time`, plus the configured disorder, as for product_view.
//
// Hostile parts (shares of all messages): malformed rows (unknown event type, negative price,
// unparsable price, missing user_id, missing event_time/product_id/user_session; made from a
// view, so funnels stay whole), resent duplicates (the same bytes as an earlier valid message),
// same-second pairs (a view and a cart add of one user and product in one epoch second, so an
// id built from user, product and second collides), and out-of-order and late event times.
// Apart from resent duplicates, no two messages are equal rows.
//
// event_id (JSON only; the CSV has none, as in the real data): an RFC 9562 version 8 UUID made
// from the seed and the message's ordinal among the messages that are not resent duplicates,
// through a bijective mix. Two distinct events have distinct ids even within one second (unlike
// the seed producer's `<user_id>_<product_id>_<epoch>`); a resent duplicate repeats the
// original's bytes, id included. An id derived from the event's content instead (as a loader of
// the CSV must: pipelines/commerce_events.yaml's key, bench/loader/event_id.h) names the same
// events, since no two distinct events here agree in time, type, product, user, session and
// price; the id strings differ. Thread rules: one thread.
#pragma once

#include "commerce_catalog.h"
#include "commerce_row.h"
#include "event_generator.h"

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace starstream::bench {

/// What a commerce message is, so callers can count and tests can cross-check.
enum class CommerceKind { valid, duplicate, unknown_event_type, negative_price, unparsable_price, missing_user_id, missing_field };
const char* to_string(CommerceKind kind);

struct CommerceMessage {
    std::string key;   ///< user_id: keeps one user's events in one partition, in order ("" when missing)
    std::string json;  ///< the Kafka value and JSONL line
    std::string csv;   ///< the same event as a CSV line
    CommerceKind kind;
    std::string event_type;  ///< as written (for counting the mix)
    std::int64_t epoch;      ///< event time, Unix seconds (meaningless when the row lacks its time)
};

/// Counts of the hostile parts a run produced (the per-kind counts are the caller's).
struct CommerceDisorder {
    std::uint64_t late = 0;               ///< event times moved back by `late_seconds` (a same-second pair draws one)
    std::uint64_t out_of_order = 0;       ///< messages (duplicates included) whose event time is before an earlier message's
    std::uint64_t same_second_pairs = 0;  ///< view + cart pairs of one user and product in one second
};

class CommerceGenerator {
public:
    /// `options`: seed, time range, message count, disorder and the malformed and duplicate
    /// shares (the product_view reference files are not read). `same_second_share`: share of
    /// messages that complete a same-second pair (0..1).
    CommerceGenerator(GeneratorOptions options, double same_second_share);
    /// The next message; call exactly `options.events` times.
    CommerceMessage next();
    const CommerceDisorder& disorder() const { return disorder_; }

private:
    /// What becomes of a cart add, decided when it is made.
    enum class CartFate { bought, removed, abandoned };
    struct CartItem {
        std::size_t product;
        CartFate fate;
    };
    struct User {
        std::string user_id, session;
        std::int64_t last_epoch = 0;
        bool seen = false;
        std::vector<CartItem> cart;  ///< cart adds neither bought nor removed, oldest first
    };
    struct Visit {
        std::size_t user = 0;
        std::int64_t last_viewed = -1;  ///< product index, -1 before the first view
        int steps_left = 0;
    };

    Visit new_visit();
    CommerceRow step(Visit& visit, std::int64_t epoch);
    CommerceRow view(Visit& visit, std::int64_t epoch);
    std::optional<CommerceRow> cart_add(Visit& visit, std::int64_t epoch);
    CommerceRow row(std::size_t user, std::size_t product, const char* type, std::int64_t epoch);
    /// Records the row's (user, second, type, product); false when an earlier row had them
    /// (writing it would make two equal rows that are not a resend).
    bool claim(const CommerceRow& row);
    CommerceMessage emit(CommerceRow row, CommerceKind kind);
    CommerceMessage corrupt(CommerceRow row);
    std::int64_t event_time();
    std::string event_id();

    GeneratorOptions options_;
    double same_second_share_;
    std::mt19937_64 rng_;
    CommerceCatalog catalog_;
    std::vector<User> users_;
    std::size_t regulars_ = 0;  ///< users_[0, regulars_) are regulars, drawn by user_choice_; the rest occasional
    std::discrete_distribution<std::size_t> user_choice_;
    std::vector<Visit> visits_;
    std::deque<CommerceRow> pending_;             ///< the second half of a same-second pair
    std::unordered_set<std::uint64_t> written_;  ///< hashes of (user, second, type, product) claimed: about 40 bytes an event
    std::vector<CommerceMessage> recent_valid_;   ///< ring of earlier valid messages, for duplicates
    std::uint64_t produced_ = 0;
    std::uint64_t distinct_ = 0;  ///< messages that are not resent duplicates: the event_id ordinal
    std::int64_t max_epoch_ = INT64_MIN;
    CommerceDisorder disorder_;
};

}  // namespace starstream::bench
