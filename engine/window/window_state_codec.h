// WindowOperator::State <-> bytes (JSON, via nlohmann-json), so that operator state can be
// checkpointed in the same Postgres transaction as the offsets and restored on assignment.
// Doubles round-trip exactly (shortest round-trip representation); pending retractions and
// late-record counters are part of the state.
// Errors: decode throws std::invalid_argument on malformed input. Pure functions; any thread.
#pragma once

#include "window/window_operator.h"

#include <string>
#include <string_view>

namespace starstream::engine {

std::string encode_state(const WindowOperator::State& state);
WindowOperator::State decode_state(std::string_view bytes);

}  // namespace starstream::engine
