// A small asynchronous HTTP/1.1 server (Boost.Beast over Asio coroutines) on its own thread
// and io_context, so that scrapes and probes never block the consume loop.
// Each connection: a read timeout (slow clients cannot pin it), 8 KiB header and body limits,
// at most 100 requests, at most 256 connections at once (more are closed at accept); malformed or oversized requests get
// 400 and the connection closes while the server keeps serving.
// Thread rules: construct, start() and stop() from one thread; handlers run on the server thread.
#pragma once

#include "http/routes.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <thread>

namespace starstream::daemon::http {

class HttpServer {
public:
    /// Binds `address`:`port` (port 0: any free port). Throws std::runtime_error naming the address.
    HttpServer(const std::string& address, std::uint16_t port, StatusSource source, std::chrono::milliseconds read_timeout);
    ~HttpServer();
    void start();
    /// Closes the listener and every connection; joins the thread.
    void stop();
    std::uint16_t port() const { return port_; }

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    StatusSource source_;
    std::chrono::milliseconds read_timeout_;
    std::uint16_t port_ = 0;
    std::atomic<int> connections_{0};
    std::thread thread_;
};

}  // namespace starstream::daemon::http
