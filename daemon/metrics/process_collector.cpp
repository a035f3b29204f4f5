#include "metrics/process_collector.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace starstream::daemon::metrics {

namespace {

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type, double value) {
    prometheus::MetricFamily f{name, help, type, {}};
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    f.metric.push_back(m);
    return f;
}

/// Seconds since the epoch at which the system booted (/proc/stat btime).
double boot_time() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    while (in >> key) {
        if (key == "btime") {
            in >> value;
            return value;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
    std::vector<prometheus::MetricFamily> out;
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may contain spaces) start after the last ')'.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string skip;
    double utime = 0, stime = 0, starttime = 0, vsize = 0, rss_pages = 0;
    for (int i = 3; i <= 24; ++i) {
        if (i == 14) fields >> utime;
        else if (i == 15) fields >> stime;
        else if (i == 22) fields >> starttime;
        else if (i == 23) fields >> vsize;
        else if (i == 24) fields >> rss_pages;
        else fields >> skip;
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    out.push_back(family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         prometheus::MetricType::Counter, (utime + stime) / ticks));
    out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.", prometheus::MetricType::Gauge, rss_pages * page));
    out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.", prometheus::MetricType::Gauge, vsize));
    out.push_back(family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                         prometheus::MetricType::Gauge, boot_time() + starttime / ticks));
    std::error_code ec;
    double fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) ++fds;
    out.push_back(family("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, fds));
    std::ifstream limits("/proc/self/limits");
    std::string line;
    while (std::getline(limits, line)) {
        if (line.rfind("Max open files", 0) == 0) {
            std::istringstream words(line.substr(14));
            double soft = 0;
            words >> soft;
            out.push_back(family("process_max_fds", "Maximum number of open file descriptors.", prometheus::MetricType::Gauge, soft));
        }
    }
    return out;
}

}  // namespace starstream::daemon::metrics
