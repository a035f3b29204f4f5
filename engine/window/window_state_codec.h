// WindowOperator::State <-> bytes, so that operator state can be checkpointed in the same
// Postgres transaction as the offsets and restored on assignment.
// Format (version 2): a compact binary encoding written and read directly, without a document
// tree: "SSW" and a version byte, then integers as LEB128 varints (signed ones zig-zagged),
// doubles as their 8 IEEE-754 bytes (exact round trip), strings as a varint length and bytes.
// A JSON document tree (version 1, nlohmann) made the checkpoint the daemon's main cost
// (bench/results.md, "Windows"). Pending retractions and late-record counters are part of the state.
// Errors: decode throws std::invalid_argument on malformed or truncated input. Pure functions; any thread.
#pragma once

#include "window/window_operator.h"

#include <string>
#include <string_view>

namespace starstream::engine {

std::string encode_state(const WindowOperator::State& state);
WindowOperator::State decode_state(std::string_view bytes);

}  // namespace starstream::engine
