// How starstream-generate spreads messages over a topic's partitions, as different real
// producers do: keyed by device (the default partitioner hashes the key, so a device's events
// share a partition and keep their order), round robin (message i to partition i mod N), or a
// random partition per message. Unkeyed modes send no key. The random draws come from their own
// RNG stream, seeded from the generator's seed, so the events' bytes do not depend on the mode.
// Thread rules: one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

namespace starstream::bench {

enum class Partitioning { device, round_robin, random };

inline Partitioning parse_partitioning(const std::string& text) {
    if (text == "device") return Partitioning::device;
    if (text == "round_robin") return Partitioning::round_robin;
    if (text == "random") return Partitioning::random;
    throw std::invalid_argument("--partitioning " + text + ": expected device, round_robin or random");
}

inline const char* to_string(Partitioning p) {
    switch (p) {
        case Partitioning::device: return "device";
        case Partitioning::round_robin: return "round_robin";
        case Partitioning::random: return "random";
    }
    return "unknown";
}

/// Picks each message's partition; keyed() says whether the message carries its key.
class Partitioner {
public:
    /// `partitions`: the topic's partition count (from metadata); unused in device mode.
    Partitioner(Partitioning mode, std::uint64_t seed, std::int32_t partitions)
        : mode_(mode), partitions_(partitions), rng_(stream_seed(seed)) {
        if (mode_ != Partitioning::device && partitions_ <= 0)
            throw std::invalid_argument("--partitioning " + std::string(to_string(mode_)) + ": the topic has no partitions");
    }

    bool keyed() const { return mode_ == Partitioning::device; }

    /// The explicit partition of message `index` (0-based, in produce order), or nullopt when
    /// the client's partitioner decides from the key. Call once per message, in order.
    std::optional<std::int32_t> next(std::uint64_t index) {
        switch (mode_) {
            case Partitioning::device: return std::nullopt;
            case Partitioning::round_robin: return static_cast<std::int32_t>(index % std::uint64_t(partitions_));
            case Partitioning::random: return std::uniform_int_distribution<std::int32_t>(0, partitions_ - 1)(rng_);
        }
        return std::nullopt;
    }

private:
    /// A seed for a stream apart from the event generator's (which seeds with `seed` itself).
    static std::uint64_t stream_seed(std::uint64_t seed) {
        std::seed_seq sequence{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(0x70617274u)};  // "part"
        std::uint32_t words[2];
        sequence.generate(words, words + 2);
        return (std::uint64_t(words[0]) << 32) | words[1];
    }

    Partitioning mode_;
    std::int32_t partitions_;
    std::mt19937_64 rng_;
};

}  // namespace starstream::bench
