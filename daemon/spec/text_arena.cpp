#include "spec/text_arena.h"

#include <algorithm>

namespace starstream::daemon::spec {

char* TextArena::grow(std::size_t size) {
    // A long text gets a block of its own; the current block (cursor_) keeps its free bytes for
    // the short texts that follow, rather than a block being given up for one jsonb document.
    const bool own = size > kBlockBytes / 4;
    const std::size_t block = own ? size : kBlockBytes;
    blocks_.push_back({std::make_unique<char[]>(block), block});
    char* at = blocks_.back().bytes.get();
    if (!own) cursor_ = at + size, left_ = kBlockBytes - size;
    return at;
}

Text TextArena::intern(std::string_view bytes) {
    if (bytes.empty()) return Text();
    if (const auto found = interned_.find(bytes); found != interned_.end()) return Text(found->data() - sizeof(std::uint32_t));
    const Text stored = store(bytes);
    interned_.insert(stored.view());
    return stored;
}

void TextArena::clear() {
    interned_.clear();
    // Keeps one regular block (a block of one long text is not worth keeping).
    const auto regular = std::find_if(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.size == kBlockBytes; });
    Block kept = regular == blocks_.end() ? Block{} : std::move(*regular);
    blocks_.clear();
    cursor_ = kept.bytes.get(), left_ = kept.size;
    if (kept.bytes) blocks_.push_back(std::move(kept));
}

std::size_t TextArena::capacity() const {
    std::size_t bytes = 0;
    for (const auto& b : blocks_) bytes += b.size;
    return bytes;
}

}  // namespace starstream::daemon::spec
