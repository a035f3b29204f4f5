// Log set-up: spdlog to stderr, as text or as one JSON object per line (log.format = json:
// {"time":..., "level":..., "message":...}, the message JSON-escaped). Under systemd
// ($JOURNAL_STREAM set) text lines carry sd-daemon priority prefixes so journald keeps levels.
// Nothing logged anywhere includes event contents, so no email address reaches a log line;
// DSNs are logged through redact_dsn.
#pragma once

#include <string>

namespace starstream::daemon {

/// Applies log.level and log.format. Throws spdlog::spdlog_ex on an unknown level.
void configure_logging(const std::string& level, const std::string& format);

}  // namespace starstream::daemon
