// A UUID's canonical text (RFC 9562 section 4: 8-4-4-4-12 hex digits, either case) and its 16
// bytes, as records carry it and PostgreSQL's binary COPY of a uuid column takes it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace starstream::daemon::spec {

/// Parses a canonical 36-character UUID into its 16 bytes, in text order; false (and `out`
/// unspecified) if `text` is not one.
bool parse_uuid(std::string_view text, std::array<std::uint8_t, 16>& out);

}  // namespace starstream::daemon::spec
