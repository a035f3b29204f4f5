// A condition that stops the daemon with a distinct exit code because retrying cannot fix it:
// an operator must act (fix the schema or a constraint, reset a position). Thrown by the
// consume loop, caught by main(), which logs `message` and exits with `exit_code`.
#pragma once

#include <string>

namespace starstream::daemon {

/// Exit codes beyond 0 (clean stop), 1 (runtime failure), 2 (configuration), 3 (unreachable at start-up).
inline constexpr int kExitPostgresRefuses = 4;     ///< Postgres refuses a batch and no record is to blame
inline constexpr int kExitOffsetOutOfRange = 5;    ///< a checkpoint outside the log with source.offset_out_of_range = fail

struct FatalStop {
    std::string message;
    int exit_code = 1;
};

}  // namespace starstream::daemon
