#include "http/readiness_probe.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace starstream::daemon::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;

int probe_readyz(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout) {
    const std::string host = address == "0.0.0.0" ? "127.0.0.1" : address == "::" ? "::1" : address;
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(host, ec);
    if (ec) return -1;
    // Asynchronous calls, because beast::tcp_stream's timeout applies only to them.
    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    beast_http::request<beast_http::empty_body> request{beast_http::verb::get, "/readyz", 11};
    request.set(beast_http::field::host, host);
    request.set(beast_http::field::user_agent, "starstreamd-healthcheck");
    beast_http::response<beast_http::string_body> response;
    int status = -1;
    stream.expires_after(timeout);
    stream.async_connect(asio::ip::tcp::endpoint(ip, port), [&](boost::system::error_code e) {
        if (e) return;
        beast_http::async_write(stream, request, [&](boost::system::error_code e2, std::size_t) {
            if (e2) return;
            beast_http::async_read(stream, buffer, response, [&](boost::system::error_code e3, std::size_t) {
                if (!e3) status = static_cast<int>(response.result_int());
            });
        });
    });
    io.run();
    return status;
}

}  // namespace starstream::daemon::http
