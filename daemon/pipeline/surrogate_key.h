// Deterministic dimension keys (DESIGN.md, star schema: "keys computed from the natural key in
// the daemon avoid a round trip per row"): every pipeline, compiled or spec, keys a member by
// XXH3-64 of its natural key's bytes; the natural key stays UNIQUE in its table, so a collision
// fails loudly instead of merging two members.
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace starstream::daemon {

/// The surrogate key of a natural key: XXH3-64 of its bytes, as a signed bigint.
std::int64_t surrogate_key(std::string_view natural_key);

}  // namespace starstream::daemon
