// The text of a spec micro-batch's values in one arena (issue 14): a record's text values are
// 8-byte views (Text) of bytes the arena owns, not a std::string each, so a batch of ~55-value
// records costs a few 64 KiB blocks instead of one heap allocation per text over 15 bytes, and
// freeing the batch on the sink thread frees those blocks only. The compiled product_view
// pipeline keeps its fact text the same way (pipeline/product_view/star_batch.h, StarBatch::text).
//
// Lifetime: a Text is valid while the arena that stored it lives and is not cleared. Blocks never
// move: growing the arena or moving it (with its SpecBatch) keeps every Text valid.
// Thread rules: one thread at a time (a batch's arena is filled on the poll thread, then read on
// the sink thread after the batch is handed over); not copyable.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace starstream::daemon::spec {

class TextArena;

/// A text value (FieldValue's text alternative): a view of bytes a TextArena owns. Only an arena
/// makes a non-empty one (TextArena::store, TextArena::intern), so no std::string temporary can
/// turn silently into a dangling view. Compares by its bytes. Default: "" (no bytes needed).
/// One pointer (8 bytes), to the text's 4-byte length followed by its bytes, so that FieldValue
/// takes 16 bytes, not the 24 a string_view alternative would: a spec row holds one per reference
/// of its layout (~40 for product_view), and two batches of 25,000 rows are in memory at once.
class Text {
public:
    Text() = default;
    std::string_view view() const {
        if (!prefixed_) return {};
        std::uint32_t size = 0;
        std::memcpy(&size, prefixed_, sizeof size);  // unaligned: the arena packs texts
        return {prefixed_ + sizeof size, size};
    }
    friend bool operator==(const Text& a, const Text& b) { return a.view() == b.view(); }
    friend std::strong_ordering operator<=>(const Text& a, const Text& b) { return a.view() <=> b.view(); }

private:
    friend class TextArena;
    explicit Text(const char* prefixed) : prefixed_(prefixed) {}
    const char* prefixed_ = nullptr;  ///< the length (std::uint32_t), then the bytes; null for ""
};

class TextArena {
public:
    /// Blocks of this many bytes; a text longer than a quarter of one gets a block of its own size.
    static constexpr std::size_t kBlockBytes = 64 * 1024;

    TextArena() = default;
    /// Moves the blocks (every Text stays valid); the source is left empty, so that a store into
    /// it never writes into a block it gave away.
    TextArena(TextArena&& other) noexcept
        : blocks_(std::move(other.blocks_)), interned_(std::move(other.interned_)), cursor_(std::exchange(other.cursor_, nullptr)),
          left_(std::exchange(other.left_, 0)) {
        other.blocks_.clear(), other.interned_.clear();
    }
    TextArena& operator=(TextArena&& other) noexcept {
        blocks_ = std::move(other.blocks_), other.blocks_.clear();
        interned_ = std::move(other.interned_), other.interned_.clear();
        cursor_ = std::exchange(other.cursor_, nullptr), left_ = std::exchange(other.left_, 0);
        return *this;
    }
    TextArena(const TextArena&) = delete;
    TextArena& operator=(const TextArena&) = delete;

    /// The longest text an arena keeps (its length is stored in 4 bytes).
    static constexpr std::size_t kMaxTextBytes = UINT32_MAX;

    /// A copy of `bytes` in the arena, valid while the arena lives and until clear(). "" needs
    /// no bytes; every other text takes 4 more (its length). Throws std::length_error for more
    /// than kMaxTextBytes (a message is far smaller: source.max_event_bytes), std::bad_alloc.
    Text store(std::string_view bytes) {
        if (bytes.empty()) return Text();
        if (bytes.size() > kMaxTextBytes) throw std::length_error("a text of more than 4 GiB");
        const auto length = static_cast<std::uint32_t>(bytes.size());
        const std::size_t size = sizeof length + bytes.size();
        char* at = cursor_;
        if (size <= left_) cursor_ += size, left_ -= size;
        else at = grow(size);
        std::memcpy(at, &length, sizeof length);
        std::memcpy(at + sizeof length, bytes.data(), bytes.size());
        return Text(at);
    }

    /// Like store(), but bytes this arena interned before are not stored again: the Text of the
    /// first copy is returned. For values a batch repeats row after row (a dimension member's key
    /// and attributes, an enricher's output: a User-Agent header, its browser family), which would
    /// otherwise take their bytes once per row. Costs one hash lookup; "" needs no bytes. Throws
    /// std::bad_alloc.
    Text intern(std::string_view bytes);

    /// Forgets every text (their views dangle from here), keeping the first block for reuse: a
    /// per-record scratch arena allocates nothing in the steady state.
    void clear();

    /// Distinct texts intern() holds (until clear()).
    std::size_t interned() const { return interned_.size(); }

    /// Bytes held in blocks (for tests and sizing).
    std::size_t capacity() const;

private:
    /// Room for `size` bytes (more than left_) in a new block: a block of their own for more
    /// than a quarter block (the current block keeps its free bytes), else the start of a new
    /// current block. Returns the room.
    char* grow(std::size_t size);

    struct Block {
        std::unique_ptr<char[]> bytes;
        std::size_t size = 0;
    };
    std::vector<Block> blocks_;
    std::unordered_set<std::string_view> interned_;  ///< views of the bytes intern() stored
    char* cursor_ = nullptr;  ///< the free bytes of the current block
    std::size_t left_ = 0;
};

}  // namespace starstream::daemon::spec
