// Liveness and readiness, evaluated from a PipelineSnapshot (pure functions).
//   liveness: both loops beat within `liveness_timeout` (a stuck poll or commit fails it);
//             no dependency checks.
//   readiness: the Kafka cluster accepts our credentials and certificate, partitions
//              assigned, Postgres reachable, last commit succeeded, consumer lag
//              and watermark age under their limits (the age only counts while a partition
//              lags: a caught-up, quiet topic is fresh).
#pragma once

#include "lifecycle/pipeline_state.h"

#include <chrono>
#include <string>
#include <vector>

namespace starstream::daemon::http {

struct HealthLimits {
    std::chrono::milliseconds liveness_timeout{60000};
    std::int64_t max_lag_records = 500000;
    std::chrono::milliseconds max_watermark_age{600000};
};

struct CheckResult {
    std::string name;
    bool ok = true;
    std::string detail;  ///< why it fails; empty when ok
};

std::vector<CheckResult> liveness(const PipelineSnapshot& s, const HealthLimits& limits, std::chrono::steady_clock::time_point now);
/// `now_unix` is the wall clock in Unix seconds (for watermark ages).
std::vector<CheckResult> readiness(const PipelineSnapshot& s, const HealthLimits& limits, double now_unix);

}  // namespace starstream::daemon::http
