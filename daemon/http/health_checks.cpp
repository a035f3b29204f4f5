#include "http/health_checks.h"

namespace starstream::daemon::http {

namespace {
CheckResult check(std::string name, bool ok, std::string detail) { return {std::move(name), ok, ok ? "" : std::move(detail)}; }
}  // namespace

std::vector<CheckResult> liveness(const PipelineSnapshot& s, const HealthLimits& limits, std::chrono::steady_clock::time_point now) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    auto silent = [&](auto beat) { return duration_cast<milliseconds>(now - beat).count(); };
    return {
        check("consume_loop", silent(s.consume_heartbeat) <= limits.liveness_timeout.count(),
              "no poll for " + std::to_string(silent(s.consume_heartbeat)) + " ms"),
        check("sink_loop", silent(s.sink_heartbeat) <= limits.liveness_timeout.count(),
              "no progress for " + std::to_string(silent(s.sink_heartbeat)) + " ms (a commit may hang)"),
    };
}

std::vector<CheckResult> readiness(const PipelineSnapshot& s, const HealthLimits& limits, double now_unix) {
    std::int64_t max_lag = 0;
    double max_age = 0;
    for (const auto& p : s.partitions) {
        max_lag = std::max(max_lag, p.lag_records);
        if (p.lag_records > 0 && p.watermark >= 0) max_age = std::max(max_age, now_unix - p.watermark);
    }
    const double age_limit = static_cast<double>(limits.max_watermark_age.count()) / 1000.0;
    return {
        check("kafka_authenticated", s.kafka_security_failure.empty(), s.kafka_security_failure),
        check("partitions_assigned", s.assigned && !s.partitions.empty(), "no partition assigned"),
        check("postgres_reachable", s.postgres_reachable, "Postgres does not answer: " + s.last_error),
        check("last_commit_succeeded", !s.last_commit_failed, "the last batch commit failed: " + s.last_error),
        check("consumer_lag", max_lag <= limits.max_lag_records,
              "lag " + std::to_string(max_lag) + " records > health.max_lag_records " + std::to_string(limits.max_lag_records)),
        check("watermark_age", max_age <= age_limit,
              "watermark " + std::to_string(static_cast<std::int64_t>(max_age)) + " s old > health.max_watermark_age_ms"),
    };
}

}  // namespace starstream::daemon::http
