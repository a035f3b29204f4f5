// The client side of `starstreamd healthcheck`: GET /readyz from a running daemon, for
// Docker's HEALTHCHECK (no curl in the image). Blocking, with a deadline.
#pragma once

#include <chrono>
#include <string>

namespace starstream::daemon::http {

/// The HTTP status of GET http://address:port/readyz, or -1 when the daemon cannot be reached
/// within `timeout`. An unspecified address (0.0.0.0, ::) is probed on loopback.
int probe_readyz(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace starstream::daemon::http
