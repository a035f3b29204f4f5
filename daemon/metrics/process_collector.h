// The standard process_* metrics of the Prometheus client libraries (CPU seconds, resident
// and virtual memory, open and maximum file descriptors, start time), read from /proc/self
// at each scrape: prometheus-cpp 1.0 has no process collector.
// Sources: proc(5) for stat and limits; the Prometheus "writing client libraries" guide for
// the names. Thread rules: Collect() may run on any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace starstream::daemon::metrics {

class ProcessCollector : public prometheus::Collectable {
public:
    std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace starstream::daemon::metrics
