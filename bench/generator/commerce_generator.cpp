#include "commerce_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace starstream::bench {

namespace {

constexpr std::size_t kProducts = 20000;           // catalogue size (the REES46 electronics sample lists about 53,000)
constexpr std::int64_t kSessionGapSeconds = 1800;  // a pause longer than this starts a new user_session
constexpr double kVisitGapSeconds = 60;            // mean event time between two events of one visit
constexpr double kVisitEndChance = 0.3;            // after each event: visits of about 3.3 events
constexpr std::uint64_t kMaxOccasionalUsers = 2000000;  // bounds memory (about 150 bytes a user) on long runs

// The funnel, tuned so that valid events come out near the REES46 electronics sample's mix
// (views 93 %, cart adds 4 %, purchases 3 %) plus a few removals (that sample has none; other
// REES46 stores do): a step is a cart add of the product viewed last with kCartChance; each
// cart add decides its fate (bought, removed, abandoned); a step settles the oldest undecided
// cart add with kSettleChance, so the purchase comes a few events after the cart add, in the
// same visit or a later one. Abandoned cart adds stay in the cart.
constexpr double kCartChance = 0.058, kSettleChance = 0.7;
constexpr double kBoughtShare = 0.9, kRemovedShare = 0.06;  // of cart adds; the rest are abandoned

/// SplitMix64's finalizer: a bijection of 64-bit words, so distinct inputs give distinct outputs.
std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t row_hash(const CommerceRow& row) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const std::string* field : {&row.user_id, &row.event_type, &row.product_id})
        for (unsigned char c : *field + '\x1f') h = (h ^ c) * 0x100000001b3ull;
    return mix64(h ^ std::uint64_t(row.epoch));
}

}  // namespace

const char* to_string(CommerceKind kind) {
    switch (kind) {
        case CommerceKind::valid: return "valid";
        case CommerceKind::duplicate: return "duplicate";
        case CommerceKind::unknown_event_type: return "unknown_event_type";
        case CommerceKind::negative_price: return "negative_price";
        case CommerceKind::unparsable_price: return "unparsable_price";
        case CommerceKind::missing_user_id: return "missing_user_id";
        case CommerceKind::missing_field: return "missing_field";
    }
    return "unknown";
}

CommerceGenerator::CommerceGenerator(GeneratorOptions options, double same_second_share)
    : options_(std::move(options)), same_second_share_(same_second_share), rng_(options_.seed),
      catalog_(rng_, kProducts) {
    // Two kinds of visitor, half the visits each: regulars, drawn by a heavy-tailed activity
    // weight (rank + 20)^-1.1 (the most active makes about 0.5 % of all events and buys a dozen
    // times or more), and occasional visitors, drawn uniformly from a pool as large as the run
    // (most come once). In 100,000 events that gives about 17,000 users, 6 events each, 78 %
    // casual visitors and a few dozen VIPs. The REES46 report on 3,000 events (1,717 profiles,
    // 93 % casual) sees a short window, where fewer users come back.
    regulars_ = std::max<std::uint64_t>(50, options_.events / 20);
    const std::size_t occasional = std::clamp<std::uint64_t>(options_.events, 50, kMaxOccasionalUsers);
    std::vector<double> activity(regulars_);
    for (std::size_t i = 0; i < regulars_; ++i) activity[i] = std::pow(double(i + 20), -1.1);
    user_choice_ = {activity.begin(), activity.end()};
    // REES46 user ids are 19 digits starting 15159156...; one id per block keeps them distinct,
    // the shuffle keeps the activity rank out of the id.
    users_.resize(regulars_ + occasional);
    std::uniform_int_distribution<std::uint64_t> in_block(0, 9999);
    for (std::size_t i = 0; i < users_.size(); ++i) users_[i].user_id = std::to_string(1515915625000000000ull + i * 10000 + in_block(rng_));
    std::shuffle(users_.begin(), users_.end(), rng_);
    // Enough open visits that one visit's events are about kVisitGapSeconds apart.
    const double events_per_second = double(options_.events) / double(std::max<std::int64_t>(1, options_.span_seconds));
    const auto open = static_cast<std::size_t>(std::clamp(events_per_second * kVisitGapSeconds, 1.0, 400.0));
    for (std::size_t i = 0; i < open; ++i) visits_.push_back(new_visit());
}

CommerceGenerator::Visit CommerceGenerator::new_visit() {
    Visit v;
    v.user = std::bernoulli_distribution(0.5)(rng_) ? user_choice_(rng_)
                                                     : regulars_ + std::uniform_int_distribution<std::size_t>(0, users_.size() - regulars_ - 1)(rng_);
    v.steps_left = 1 + std::geometric_distribution<int>(kVisitEndChance)(rng_);
    return v;
}

std::int64_t CommerceGenerator::event_time() {
    double progress = options_.events > 1 ? double(produced_) / double(options_.events - 1) : 0.0;
    double t = double(options_.start_time) + progress * double(options_.span_seconds);
    if (options_.out_of_order_seconds > 0) t -= std::uniform_real_distribution<double>(0, options_.out_of_order_seconds)(rng_);
    if (options_.late_share > 0 && std::bernoulli_distribution(options_.late_share)(rng_)) {
        t -= options_.late_seconds;
        ++disorder_.late;
    }
    return static_cast<std::int64_t>(t);
}

std::string CommerceGenerator::event_id() {
    // An RFC 9562 version 8 UUID from the seed and the ordinal of this message among the
    // non-duplicate ones: mix64 is a bijection, so two distinct events never share an id (even
    // within one second), while a resent duplicate repeats its original's bytes, id included.
    const std::uint64_t ordinal = distinct_++;
    const std::uint64_t a = mix64(ordinal ^ mix64(options_.seed));
    const std::uint64_t b = mix64(a ^ 0x636f6d6d65726365ull);  // "commerce"
    const std::uint64_t hi = (a & 0xFFFFFFFF00000000ull) | ((b >> 32) & 0xFFFF0FFFull) | 0x8000ull;
    const std::uint64_t lo = 0x8000000000000000ull | (b & 0x3FFFFFFF00000000ull) | (a & 0xFFFFFFFFull);
    char text[37];
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", unsigned(hi >> 32), unsigned(hi >> 16) & 0xFFFF,
                  unsigned(hi) & 0xFFFF, unsigned(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return text;
}

CommerceRow CommerceGenerator::row(std::size_t user_index, std::size_t product_index, const char* type, std::int64_t epoch) {
    User& user = users_[user_index];
    if (!user.seen || epoch - user.last_epoch > kSessionGapSeconds) {
        static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        std::uniform_int_distribution<int> letter(0, 51);
        user.session.clear();
        for (int i = 0; i < 10; ++i) user.session += letters[letter(rng_)];
    }
    user.last_epoch = user.seen ? std::max(user.last_epoch, epoch) : epoch;
    user.seen = true;
    const CommerceProduct& product = catalog_.product(product_index);
    const CommerceCategory& category = catalog_.categories()[product.category];
    return {epoch, true, type, product.product_id, category.category_id, category.category_code, product.brand, product.price,
            user.user_id, user.session};
}

CommerceRow CommerceGenerator::view(Visit& visit, std::int64_t epoch) {
    // Browsing mostly stays in the category of the product seen last.
    std::size_t product = visit.last_viewed >= 0 && std::bernoulli_distribution(0.6)(rng_)
                              ? catalog_.in_category(catalog_.product(std::size_t(visit.last_viewed)).category, rng_)
                              : catalog_.popular(rng_);
    CommerceRow r = row(visit.user, product, "view", epoch);
    // Two views of one product by one user in one second would be equal rows: view another
    // (16 tries: never exhausted in practice, a user views a handful of products a second at most).
    for (int attempt = 0; attempt < 16 && !claim(r); ++attempt) r = row(visit.user, product = catalog_.popular(rng_), "view", epoch);
    visit.last_viewed = std::int64_t(product);
    return r;
}

CommerceRow CommerceGenerator::step(Visit& visit, std::int64_t epoch) {
    auto& cart = users_[visit.user].cart;
    auto due = std::find_if(cart.begin(), cart.end(), [](const CartItem& item) { return item.fate != CartFate::abandoned; });
    if (due != cart.end() && std::bernoulli_distribution(kSettleChance)(rng_)) {
        CommerceRow r = row(visit.user, due->product, due->fate == CartFate::bought ? "purchase" : "remove_from_cart", epoch);
        if (claim(r)) {
            cart.erase(due);
            return r;
        }
    }
    if (visit.last_viewed >= 0 && std::bernoulli_distribution(kCartChance)(rng_)) {
        if (auto r = cart_add(visit, epoch)) return std::move(*r);
    }
    return view(visit, epoch);
}

std::optional<CommerceRow> CommerceGenerator::cart_add(Visit& visit, std::int64_t epoch) {
    auto& cart = users_[visit.user].cart;
    const auto product = std::size_t(visit.last_viewed);
    if (std::any_of(cart.begin(), cart.end(), [&](const CartItem& item) { return item.product == product; })) return std::nullopt;
    CommerceRow r = row(visit.user, product, "cart", epoch);
    if (!claim(r)) return std::nullopt;
    const double fate = std::uniform_real_distribution<double>(0, 1)(rng_);
    cart.push_back({product, fate < kBoughtShare                   ? CartFate::bought
                             : fate < kBoughtShare + kRemovedShare ? CartFate::removed
                                                                   : CartFate::abandoned});
    return r;
}

bool CommerceGenerator::claim(const CommerceRow& r) {
    return written_.insert(row_hash(r)).second;
}

CommerceMessage CommerceGenerator::emit(CommerceRow r, CommerceKind kind) {
    if (r.has_time) {
        if (r.epoch < max_epoch_) ++disorder_.out_of_order;
        max_epoch_ = std::max(max_epoch_, r.epoch);
    }
    CommerceMessage m{r.user_id, to_json(r, event_id()), to_csv(r), kind, r.event_type, r.epoch};
    if (kind == CommerceKind::valid) {
        if (recent_valid_.size() < 1000) {
            recent_valid_.push_back(m);
        } else {
            recent_valid_[produced_ % 1000] = m;
        }
    }
    return m;
}

CommerceMessage CommerceGenerator::corrupt(CommerceRow r) {
    auto kind = static_cast<CommerceKind>(2 + std::uniform_int_distribution<int>(0, 4)(rng_));
    switch (kind) {
        case CommerceKind::unknown_event_type: {
            static const char* const types[] = {"wishlist", "compare", "click"};
            r.event_type = types[std::uniform_int_distribution<int>(0, 2)(rng_)];
            break;
        }
        case CommerceKind::negative_price: r.price = "-" + r.price; break;
        case CommerceKind::unparsable_price: {
            // A locale-formatted price, a currency suffix, a placeholder: what exports get wrong.
            static const char* const texts[] = {"1.299,00", "31.90 USD", "n/a"};
            r.price = texts[std::uniform_int_distribution<int>(0, 2)(rng_)];
            break;
        }
        case CommerceKind::missing_user_id: r.user_id.clear(); break;
        case CommerceKind::missing_field:
            switch (std::uniform_int_distribution<int>(0, 2)(rng_)) {
                case 0: r.has_time = false; break;
                case 1: r.product_id.clear(); break;
                default: r.user_session.clear(); break;
            }
            break;
        default: break;
    }
    return emit(std::move(r), kind);
}

CommerceMessage CommerceGenerator::next() {
    std::uniform_real_distribution<double> u(0, 1);
    ++produced_;
    if (!pending_.empty()) {
        CommerceRow r = std::move(pending_.front());
        pending_.pop_front();
        return emit(std::move(r), CommerceKind::valid);
    }
    if (!recent_valid_.empty() && u(rng_) < options_.duplicate_share) {
        CommerceMessage again = recent_valid_[std::uniform_int_distribution<std::size_t>(0, recent_valid_.size() - 1)(rng_)];
        again.kind = CommerceKind::duplicate;
        if (again.epoch < max_epoch_) ++disorder_.out_of_order;
        return again;
    }
    Visit& visit = visits_[std::uniform_int_distribution<std::size_t>(0, visits_.size() - 1)(rng_)];
    const std::int64_t epoch = event_time();
    const double r = u(rng_);
    std::optional<CommerceMessage> message;
    if (r < options_.malformed_share) {
        message = corrupt(view(visit, epoch));
    } else if (r < options_.malformed_share + same_second_share_ && produced_ < options_.events) {
        // A view now and the cart add of the same product in the same second as the next message.
        CommerceRow seen = view(visit, epoch);
        if (auto added = cart_add(visit, epoch)) {
            pending_.push_back(std::move(*added));
            ++disorder_.same_second_pairs;
        }
        message = emit(std::move(seen), CommerceKind::valid);
    } else {
        message = emit(step(visit, epoch), CommerceKind::valid);
    }
    if (--visit.steps_left <= 0) visit = new_visit();
    return std::move(*message);
}

}  // namespace starstream::bench
