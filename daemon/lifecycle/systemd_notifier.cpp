#include "lifecycle/systemd_notifier.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace starstream::daemon {

SystemdNotifier::SystemdNotifier() {
    if (const char* usec = std::getenv("WATCHDOG_USEC")) {
        const char* pid = std::getenv("WATCHDOG_PID");
        const long long interval = std::atoll(usec);
        if (interval > 0 && (!pid || std::atoll(pid) == static_cast<long long>(getpid())))
            watchdog_period_ = std::chrono::microseconds(interval / 2);
    }
    const char* socket_name = std::getenv("NOTIFY_SOCKET");
    if (!socket_name || !*socket_name) return;
    address_ = socket_name;
    if (address_.size() >= sizeof(sockaddr_un::sun_path) || (address_[0] != '/' && address_[0] != '@')) {
        spdlog::warn("NOTIFY_SOCKET '{}' is not a socket path; not notifying systemd", address_);
        return;
    }
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) spdlog::warn("cannot create the systemd notification socket: {}", std::strerror(errno));
}

SystemdNotifier::~SystemdNotifier() {
    if (fd_ >= 0) close(fd_);
}

bool SystemdNotifier::notify(const std::string& state) {
    if (fd_ < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length) < 0) {
        spdlog::debug("systemd notification '{}' not sent: {}", state.substr(0, state.find('\n')), std::strerror(errno));
        return false;
    }
    return true;
}

}  // namespace starstream::daemon
