// The systemd notify protocol (sd_notify(3)), spoken directly: datagrams such as "READY=1",
// "STATUS=...", "WATCHDOG=1", "STOPPING=1" sent to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or an abstract name when it starts with '@'). Without $NOTIFY_SOCKET every call
// is a no-op, so the daemon runs the same outside systemd.
// $WATCHDOG_USEC (and $WATCHDOG_PID, if set, must be ours) enables the watchdog: the owner
// sends WATCHDOG=1 at half that interval from the loop that proves progress.
// Thread rules: notify() may be called from any thread (one sendto per call).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace starstream::daemon {

class SystemdNotifier {
public:
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
    SystemdNotifier();
    ~SystemdNotifier();
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    /// Sends one notification (lines "KEY=value" joined by '\n'); false if not under systemd or on error.
    bool notify(const std::string& state);
    bool enabled() const { return fd_ >= 0; }
    /// Half the watchdog interval, when the watchdog is on.
    std::optional<std::chrono::microseconds> watchdog_period() const { return watchdog_period_; }

private:
    int fd_ = -1;
    std::string address_;  ///< socket path; a leading '@' is the abstract namespace
    std::optional<std::chrono::microseconds> watchdog_period_;
};

}  // namespace starstream::daemon
