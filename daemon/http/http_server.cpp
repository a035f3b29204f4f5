#include "http/http_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <spdlog/spdlog.h>

namespace starstream::daemon::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using asio::ip::tcp;

namespace {
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = 8 * 1024;
constexpr int kMaxRequestsPerConnection = 100;
constexpr int kMaxConnections = 256;
}  // namespace

HttpServer::HttpServer(const std::string& address, std::uint16_t port, StatusSource source, std::chrono::milliseconds read_timeout)
    : acceptor_(io_), source_(std::move(source)), read_timeout_(read_timeout) {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("http.listen_address '" + address + "' is not an IP address");
    const tcp::endpoint endpoint(ip, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + " (http.listen_address, http.port): " + ec.message());
    port_ = acceptor_.local_endpoint().port();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    spdlog::info("http: serving /livez /readyz /metrics /status on {}:{}", acceptor_.local_endpoint().address().to_string(), port_);
}

void HttpServer::stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    });
    io_.stop();
    thread_.join();
}

asio::awaitable<void> HttpServer::accept_loop() {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) continue;
        if (connections_ >= kMaxConnections) {
            socket.close(ec);  // shed load rather than queue without bound
            continue;
        }
        asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> HttpServer::session(tcp::socket socket) {
    ++connections_;
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (int served = 0; served < kMaxRequestsPerConnection; ++served) {
        beast_http::request_parser<beast_http::string_body> parser;
        parser.header_limit(kHeaderLimit);
        parser.body_limit(kBodyLimit);
        stream.expires_after(read_timeout_);
        co_await beast_http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
            break;
        Response response = ec ? error_response(beast_http::status::bad_request, "bad request: " + ec.message(), 11, false)
                               : handle_request(parser.get(), source_);
        if (served + 1 == kMaxRequestsPerConnection) response.keep_alive(false);
        stream.expires_after(read_timeout_);
        co_await beast_http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !response.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    --connections_;
}

}  // namespace starstream::daemon::http
