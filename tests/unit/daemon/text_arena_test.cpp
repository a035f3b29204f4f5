// The arena of a spec batch's text (spec/text_arena.h): every view stays valid and unchanged as
// the arena grows (short texts filling blocks, long ones in blocks of their own) and as it moves;
// clear() keeps one block for reuse. Checked against copies the test keeps (std::string).
#include "spec/record_decoder.h"
#include "spec/text_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using starstream::daemon::spec::FieldValue;
using starstream::daemon::spec::Text;
using starstream::daemon::spec::TextArena;

namespace {

/// Texts of many lengths: short ones, some across a block's end, some longer than a quarter block.
std::vector<std::string> texts() {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < 5000; ++i) {
        const std::size_t size = i % 97 == 0 ? TextArena::kBlockBytes / 4 + i : i % 61;
        out.push_back(std::string(size, static_cast<char>('a' + i % 26)) + std::to_string(i));
    }
    return out;
}

}  // namespace

TEST(TextArena, ViewsSurviveGrowthAndMoves) {
    const auto expected = texts();
    TextArena arena;
    std::vector<Text> stored;
    for (const auto& t : expected) stored.push_back(arena.store(t));
    TextArena moved = std::move(arena);  // as a SpecBatch moves with its arena
    TextArena assigned;
    assigned = std::move(moved);
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(stored[i].view(), expected[i]) << i;
    // The short texts share blocks: far fewer bytes than one block per text.
    EXPECT_LT(assigned.capacity(), 40 * TextArena::kBlockBytes);
}

TEST(TextArena, EmptyTextNeedsNoBytesAndEqualsTheDefault) {
    TextArena arena;
    EXPECT_EQ(arena.store(""), Text());
    EXPECT_EQ(arena.capacity(), 0u);
    EXPECT_EQ(arena.store("b"), arena.store("b"));  // by bytes, not by address
    EXPECT_LT(arena.store("a"), arena.store("b"));
}

TEST(TextArena, ClearKeepsOneBlockForReuse) {
    TextArena arena;
    for (const auto& t : texts()) arena.store(t);
    arena.clear();
    EXPECT_EQ(arena.capacity(), TextArena::kBlockBytes);
    const Text again = arena.store("again");
    EXPECT_EQ(again.view(), "again");
    EXPECT_EQ(arena.capacity(), TextArena::kBlockBytes);  // nothing allocated
}

TEST(TextArena, FieldValueStaysAt16Bytes) { EXPECT_EQ(sizeof(FieldValue), 16u); }

// A moved-from arena keeps cursor_ and left_ (the defaulted move copies raw members): storing into
// it writes into the block the moved-to arena now owns, where that arena's next text goes too.
TEST(TextArena, AMovedFromArenaNeverWritesIntoTheMovedToArenasBlock) {
    TextArena arena;
    const Text kept = arena.store("kept");
    TextArena moved = std::move(arena);
    const Text stale = arena.store("stale");  // NOLINT(bugprone-use-after-move): valid but unspecified, still usable
    const Text fresh = moved.store("FRESH");
    EXPECT_EQ(kept.view(), "kept");
    EXPECT_EQ(fresh.view(), "FRESH");
    EXPECT_EQ(stale.view(), "stale");
}

TEST(TextArena, InternKeepsOneCopyPerDistinctBytes) {
    TextArena arena;
    const std::string agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    const Text first = arena.intern(agent);
    const std::size_t capacity = arena.capacity();
    for (int i = 0; i < 10000; ++i) {  // 1 MB of copies were there no interning
        const Text again = arena.intern(std::string(agent));
        ASSERT_EQ(again.view().data(), first.view().data());
    }
    EXPECT_EQ(arena.capacity(), capacity);
    const Text other = arena.intern("Firefox");
    EXPECT_EQ(other.view(), "Firefox");
    EXPECT_NE(other.view().data(), first.view().data());
    EXPECT_EQ(arena.intern(""), Text());
    // store() always copies, and what it stored is not interned.
    const Text stored = arena.store("curl/8.0");
    EXPECT_NE(arena.intern("curl/8.0").view().data(), stored.view().data());
    EXPECT_EQ(first.view(), agent);
}

// The interned views point into the blocks: they go where the blocks go, and clear() forgets them.
TEST(TextArena, InternedBytesFollowTheBlocks) {
    TextArena arena;
    const Text kept = arena.intern("Chrome");
    TextArena moved = std::move(arena);
    EXPECT_EQ(moved.intern("Chrome").view().data(), kept.view().data());
    // NOLINTNEXTLINE(bugprone-use-after-move): valid but unspecified, still usable
    EXPECT_NE(arena.intern("Chrome").view().data(), kept.view().data());  // not a view into blocks it gave away
    moved.clear();
    const Text fresh = moved.intern("Safari");
    EXPECT_EQ(fresh.view(), "Safari");
    EXPECT_EQ(moved.intern("Safari").view().data(), fresh.view().data());
}
