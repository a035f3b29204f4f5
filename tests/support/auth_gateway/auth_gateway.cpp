// starstream-auth-gateway: a Kafka-protocol gateway that puts SASL authentication in front of
// librdkafka's mock cluster (which has none), for the tests of remote clusters (issue 6).
//   starstream-auth-gateway --upstream 127.0.0.1:PORT --users-file users.txt [--mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512]
//                           [--tls-cert server.pem --tls-key server.key] [--advertised-host localhost]
// One listener per mock broker (127.0.0.1, free ports; TLS when a certificate is given, as a
// SASL_SSL listener); the first line on stdout is the gateway's bootstrap list. Per connection:
// ApiVersions is relayed with SaslHandshake and SaslAuthenticate added (and Metadata/
// FindCoordinator capped to versions without tagged fields, so that their responses are easy to
// rewrite); SaslHandshake v0-1 and SaslAuthenticate v0-1 are answered here (PLAIN,
// SCRAM-SHA-256/512; after v0 the tokens come as bare frames); a wrong credential gets error 58
// (SASL_AUTHENTICATION_FAILED) and the connection is closed, as a broker does; any other
// request before authentication closes the connection. Afterwards requests are relayed, and
// broker addresses in Metadata and FindCoordinator responses point at the gateway.
// SIGHUP rereads the users file and closes every connection, as a rolling restart of brokers
// with rotated credentials would: clients reconnect and authenticate with the new table.
//
// Chaos tests (issue 12) use two more options:
//   --no-sasl                 a PLAINTEXT listener (security.protocol=plaintext): no SASL phase,
//                             no users file; everything else (address rewriting) is the same.
//   --visible-partitions N    Metadata responses list only partitions 0..N-1 of every topic, as
//                             if the topics had N partitions; SIGUSR1 shows all of them from then
//                             on (logged "auth-gateway: partitions revealed"). The mock cluster
//                             cannot add partitions to a topic (no CreatePartitions in
//                             librdkafka 2.0.2), so this is how a test adds partitions at runtime:
//                             the producer writes to every partition of the mock directly, the
//                             consumers, behind the gateway, see the new ones at their next
//                             metadata refresh (topic.metadata.refresh.interval.ms).
// Thread rules: one io_context thread; each connection is two coroutines (one per direction).
#include "auth_gateway/kafka_wire.h"
#include "auth_gateway/scram_server.h"

#include <boost/algorithm/string.hpp>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/program_options.hpp>

#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace starstream::test_support;

namespace {

constexpr std::int16_t kMetadata = 3, kFindCoordinator = 10, kSaslHandshake = 17, kApiVersions = 18, kSaslAuthenticate = 36;
constexpr std::int16_t kUnsupportedSaslMechanism = 33, kSaslAuthenticationFailed = 58;

struct Broker {
    std::int32_t node_id;
    std::string host;
    std::int32_t port;
};

struct Gateway {
    std::map<std::string, std::string> passwords;  ///< PLAIN
    std::map<std::string, ScramCredential> scram256, scram512;
    std::vector<std::string> mechanisms;
    bool sasl = true;                                   ///< false: --no-sasl, plain relay
    std::int32_t visible_partitions = -1;               ///< >= 0: Metadata hides partitions >= this
    std::map<std::int32_t, Broker> upstream;        ///< by node id
    std::map<std::int32_t, std::uint16_t> local_port;  ///< node id -> gateway port
    std::string advertised_host = "127.0.0.1";          ///< host name clients are told (TLS checks it)
    std::optional<ssl::context> tls;                    ///< set: listeners speak TLS
    std::map<std::uint64_t, std::function<void()>> live;  ///< closes each open connection
    std::uint64_t next_session = 0;
};

/// Reads "user:password" lines into the PLAIN and SCRAM tables (replacing them).
void load_users(Gateway& g, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read the users file " + path);
    g.passwords.clear(), g.scram256.clear(), g.scram512.clear();
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string user = line.substr(0, colon), password = line.substr(colon + 1);
        g.passwords[user] = password;
        g.scram256[user] = make_scram_credential(ScramHash::sha256, password, "starstream-salt-" + user, 4096);
        g.scram512[user] = make_scram_credential(ScramHash::sha512, password, "starstream-salt-" + user, 4096);
    }
}

/// The TCP socket under a client stream (plain or TLS), to close it.
tcp::socket& socket_of(tcp::socket& s) { return s; }
tcp::socket& socket_of(ssl::stream<tcp::socket>& s) { return s.next_layer(); }

/// Reads one size-prefixed frame (without the prefix) from a plain or TLS stream.
template <typename Stream>
asio::awaitable<std::string> read_frame(Stream& s) {
    char size_bytes[4];
    co_await asio::async_read(s, asio::buffer(size_bytes), asio::use_awaitable);
    const std::int32_t size = wire::Reader(std::string_view(size_bytes, 4)).i32();
    if (size < 0 || size > (100 << 20)) throw std::runtime_error("bad frame size");
    std::string body(static_cast<std::size_t>(size), '\0');
    co_await asio::async_read(s, asio::buffer(body), asio::use_awaitable);
    co_return body;
}

template <typename Stream>
asio::awaitable<void> write_frame(Stream& s, const std::string& framed) {
    co_await asio::async_write(s, asio::buffer(framed), asio::use_awaitable);
}

/// Skips tagged fields (a count, then tag, size and data each).
void skip_tagged_fields(wire::Reader& r) {
    for (auto n = r.uvarint(); n > 0; --n) r.uvarint(), r.take(r.uvarint());
}

/// ApiVersions response body (after the correlation id): SASL added, Metadata and
/// FindCoordinator capped below their first flexible versions (9 and 3).
std::string rewrite_api_versions(std::string_view body, std::int16_t version, bool sasl) {
    wire::Reader r(body);
    wire::Writer w;
    w.i16(r.i16());  // error code
    const bool flexible = version >= 3;
    const std::uint64_t count = flexible ? r.uvarint() - 1 : static_cast<std::uint64_t>(r.i32());
    struct Api { std::int16_t key, min, max; };
    std::vector<Api> apis;
    for (std::uint64_t i = 0; i < count; ++i) {
        Api a{r.i16(), r.i16(), r.i16()};
        if (flexible) skip_tagged_fields(r);
        if (a.key == kSaslHandshake || a.key == kSaslAuthenticate) continue;
        if (a.key == kMetadata) a.max = std::min<std::int16_t>(a.max, 8);
        if (a.key == kFindCoordinator) a.max = std::min<std::int16_t>(a.max, 2);
        apis.push_back(a);
    }
    if (sasl) {
        apis.push_back({kSaslHandshake, 0, 1});
        apis.push_back({kSaslAuthenticate, 0, 1});
    }
    flexible ? w.uvarint(apis.size() + 1) : w.i32(static_cast<std::int32_t>(apis.size()));
    for (const auto& a : apis) {
        w.i16(a.key), w.i16(a.min), w.i16(a.max);
        if (flexible) w.uvarint(0);
    }
    w.raw(r.rest());  // throttle time and, in v3, the response's tagged fields
    return w.body();
}

/// Copies an INT32 array (replica, ISR or offline node ids) from `r` to `w`.
void copy_i32_array(wire::Reader& r, wire::Writer& w) {
    const std::int32_t n = r.i32();
    w.i32(n);
    for (std::int32_t i = 0; i < n; ++i) w.i32(r.i32());
}

/// The rest of a Metadata v0-8 response after the brokers (cluster id, controller, topics),
/// with partitions >= `visible` left out of every topic.
void filter_partitions(wire::Reader& r, wire::Writer& w, std::int16_t version, std::int32_t visible) {
    if (version >= 2) w.nullable_string(r.nullable_string());  // cluster id
    if (version >= 1) w.i32(r.i32());                          // controller id
    const std::int32_t topics = r.i32();
    w.i32(topics);
    for (std::int32_t t = 0; t < topics; ++t) {
        w.i16(r.i16());        // error code
        w.string(r.string());  // name
        if (version >= 1) w.raw(r.take(1));  // is_internal
        const std::int32_t partitions = r.i32();
        std::vector<std::string> kept;
        for (std::int32_t p = 0; p < partitions; ++p) {
            wire::Writer one;
            one.i16(r.i16());  // error code
            const std::int32_t index = r.i32();
            one.i32(index);
            one.i32(r.i32());                     // leader
            if (version >= 7) one.i32(r.i32());   // leader epoch
            copy_i32_array(r, one);               // replicas
            copy_i32_array(r, one);               // ISR
            if (version >= 5) copy_i32_array(r, one);  // offline replicas
            if (index < visible) kept.push_back(one.body());
        }
        w.i32(static_cast<std::int32_t>(kept.size()));
        for (const auto& k : kept) w.raw(k);
        if (version >= 8) w.i32(r.i32());  // topic authorized operations
    }
    w.raw(r.rest());  // v8: cluster authorized operations
}

/// Metadata (v0-8) or FindCoordinator (v0-2) response body with broker addresses replaced by
/// the gateway's (and, with --visible-partitions, the hidden partitions left out).
std::string rewrite_addresses(const Gateway& g, std::string_view body, std::int16_t api_key, std::int16_t version) {
    wire::Reader r(body);
    wire::Writer w;
    auto address = [&](std::int32_t node_id) {
        r.string(), r.i32();
        const auto it = g.local_port.find(node_id);
        w.string(g.advertised_host), w.i32(it == g.local_port.end() ? 0 : it->second);
    };
    if (api_key == kMetadata) {
        if (version >= 3) w.i32(r.i32());  // throttle time
        const std::int32_t brokers = r.i32();
        w.i32(brokers);
        for (std::int32_t i = 0; i < brokers; ++i) {
            const std::int32_t node_id = r.i32();
            w.i32(node_id);
            address(node_id);
            if (version >= 1) w.nullable_string(r.nullable_string());  // rack
        }
        if (g.visible_partitions >= 0) filter_partitions(r, w, version, g.visible_partitions);
    } else {
        if (version >= 1) w.i32(r.i32());  // throttle time
        w.i16(r.i16());                    // error code
        if (version >= 1) w.nullable_string(r.nullable_string());
        const std::int32_t node_id = r.i32();
        w.i32(node_id);
        address(node_id);
    }
    w.raw(r.rest());
    return w.body();
}

/// `message` with its 4-byte size prefix, to relay a frame unchanged.
std::string framed(std::string_view message) {
    wire::Writer w;
    w.raw(message);
    return w.framed();
}

std::string response(std::int32_t correlation_id, const std::string& body) {
    wire::Writer w;
    w.i32(correlation_id);
    w.raw(body);
    return w.framed();
}

/// One client connection; `ClientStream` is tcp::socket or ssl::stream<tcp::socket>.
template <typename ClientStream>
class Session {
public:
    Session(Gateway& g, ClientStream client, const Broker& broker)
        : g_(g), client_(std::move(client)), upstream_(client_.get_executor()), broker_(broker), id_(g.next_session++) {}
    ~Session() { g_.live.erase(id_); }

    /// The connection's life; `self` keeps the session alive (coroutines start lazily).
    asio::awaitable<void> run(std::shared_ptr<Session> self) {
        g_.live[id_] = [weak = std::weak_ptr<Session>(self)] {
            if (auto session = weak.lock()) session->close();
        };
        try {
            if constexpr (!std::is_same_v<ClientStream, tcp::socket>) {
                boost::system::error_code ec;
                co_await client_.async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
                if (ec) {
                    log_refusal("TLS handshake: " + ec.message());
                    co_return close();
                }
            }
            co_await upstream_.async_connect({asio::ip::make_address(broker_.host), static_cast<std::uint16_t>(broker_.port)}, asio::use_awaitable);
            if (g_.sasl && !co_await authenticate()) co_return close();
            asio::co_spawn(client_.get_executor(), relay_responses(self), asio::detached);
            for (;;) {
                std::string request = co_await read_frame(client_);
                wire::Reader r(request);
                const std::int16_t key = r.i16(), version = r.i16();
                pending_[r.i32()] = {key, version};
                co_await write_frame(upstream_, framed(request));
            }
        } catch (const std::exception& e) {
            std::cerr << "auth-gateway: connection to node " << broker_.node_id << " closed: " << e.what() << "\n";
        }
        close();
    }

private:
    struct Pending { std::int16_t key, version; };

    /// Logs a refused client, one line per refusal: the tests count them.
    static void log_refusal(const std::string& what) { std::cerr << "auth-gateway: refused " << what << std::endl; }

    void close() {
        boost::system::error_code ignored;
        socket_of(client_).close(ignored);
        upstream_.close(ignored);
    }

    /// The SASL phase; true once authenticated. ApiVersions may come first (relayed). After
    /// SaslHandshake v1 the tokens travel in SaslAuthenticate requests; after v0 (older clients
    /// such as kafka-python) they are bare size-prefixed frames, and a failure just closes.
    asio::awaitable<bool> authenticate() {
        bool bare_tokens = false;
        for (;;) {
            std::string request = co_await read_frame(client_);
            if (bare_tokens) {
                bool done = false;
                const std::optional<std::string> reply = step(request, done);
                if (!reply) co_return false;
                co_await write_frame(client_, framed(*reply));
                if (done) co_return true;
                continue;
            }
            wire::Reader r(request);
            const std::int16_t key = r.i16(), version = r.i16();
            const std::int32_t correlation_id = r.i32();
            if (key == kApiVersions) {
                co_await write_frame(upstream_, framed(request));
                std::string reply = co_await read_frame(upstream_);
                co_await write_frame(client_, response(correlation_id, rewrite_api_versions(std::string_view(reply).substr(4), version, true)));
                continue;
            }
            r.nullable_string();  // client id (SASL requests are not flexible: header v1)
            if (key == kSaslHandshake) {
                mechanism_ = r.string();
                const bool enabled = std::find(g_.mechanisms.begin(), g_.mechanisms.end(), mechanism_) != g_.mechanisms.end();
                wire::Writer w;
                w.i16(enabled ? 0 : kUnsupportedSaslMechanism);
                w.i32(static_cast<std::int32_t>(g_.mechanisms.size()));
                for (const auto& m : g_.mechanisms) w.string(m);
                co_await write_frame(client_, response(correlation_id, w.body()));
                if (!enabled) {
                    log_refusal("mechanism " + mechanism_ + " (enabled: " + boost::join(g_.mechanisms, ",") + ")");
                    co_return false;
                }
                if (mechanism_ == "SCRAM-SHA-256") scram_ = std::make_unique<ScramServerExchange>(ScramHash::sha256, g_.scram256, nonce());
                if (mechanism_ == "SCRAM-SHA-512") scram_ = std::make_unique<ScramServerExchange>(ScramHash::sha512, g_.scram512, nonce());
                bare_tokens = version == 0;
                continue;
            }
            if (key != kSaslAuthenticate || mechanism_.empty()) co_return false;  // a broker drops such clients
            bool done = false;
            const std::optional<std::string> reply = step(r.bytes(), done);
            wire::Writer w;
            w.i16(reply ? 0 : kSaslAuthenticationFailed);
            w.nullable_string(reply ? std::nullopt : std::optional<std::string>("Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism_));
            w.bytes(reply.value_or(""));
            if (version >= 1) w.i64(0);  // session lifetime: none
            co_await write_frame(client_, response(correlation_id, w.body()));
            if (!reply) co_return false;
            if (done) co_return true;
        }
    }

    /// One client token of the negotiated mechanism: the server's reply, or nullopt when the
    /// credentials are wrong; `done` once the client is authenticated.
    std::optional<std::string> step(const std::string& token, bool& done) {
        std::optional<std::string> reply;
        if (mechanism_ == "PLAIN") {
            // authzid NUL user NUL password (RFC 4616)
            std::vector<std::string> parts;
            boost::split(parts, token, [](char c) { return c == '\0'; });
            const auto it = parts.size() == 3 ? g_.passwords.find(parts[1]) : g_.passwords.end();
            if (it != g_.passwords.end() && it->second == parts[2]) reply = "", done = true;
        } else if (!scram_first_done_) {
            reply = scram_->first(token);
            scram_first_done_ = true;
        } else {
            reply = scram_->final(token);
            done = reply.has_value();
        }
        if (!reply) log_refusal(mechanism_ + " authentication" + (scram_ ? ": " + scram_->error() : ""));
        return reply;
    }

    asio::awaitable<void> relay_responses(std::shared_ptr<Session> /*keeps the session alive*/) {
        try {
            for (;;) {
                std::string reply = co_await read_frame(upstream_);
                const std::int32_t correlation_id = wire::Reader(reply).i32();
                const auto it = pending_.find(correlation_id);
                std::string out;
                const std::string_view body = std::string_view(reply).substr(4);
                if (it != pending_.end() && (it->second.key == kMetadata || it->second.key == kFindCoordinator)) {
                    out = response(correlation_id, rewrite_addresses(g_, body, it->second.key, it->second.version));
                } else if (it != pending_.end() && it->second.key == kApiVersions) {
                    out = response(correlation_id, rewrite_api_versions(body, it->second.version, g_.sasl));  // asked again later, or first without SASL
                } else {
                    out = framed(reply);
                }
                if (it != pending_.end()) pending_.erase(it);
                co_await write_frame(client_, out);
            }
        } catch (const std::exception&) {
        }
        close();
    }

    std::string nonce() {
        static std::mt19937_64 rng(std::random_device{}());
        return std::to_string(rng()) + std::to_string(rng());  // printable, no ',' (RFC 5802 section 7)
    }

    Gateway& g_;
    ClientStream client_;
    tcp::socket upstream_;
    Broker broker_;
    std::map<std::int32_t, Pending> pending_;
    std::uint64_t id_;
    std::string mechanism_;
    std::unique_ptr<ScramServerExchange> scram_;
    bool scram_first_done_ = false;
};

/// The mock cluster's brokers, from a Metadata v1 request to the bootstrap server.
std::map<std::int32_t, Broker> discover(asio::io_context& io, const std::string& bootstrap) {
    const auto colon = bootstrap.rfind(':');
    tcp::socket s(io);
    s.connect({asio::ip::make_address(bootstrap.substr(0, colon)), static_cast<std::uint16_t>(std::stoi(bootstrap.substr(colon + 1)))});
    wire::Writer w;
    w.i16(kMetadata), w.i16(1), w.i32(1), w.string("auth-gateway"), w.i32(-1);  // all topics
    asio::write(s, asio::buffer(w.framed()));
    char size_bytes[4];
    asio::read(s, asio::buffer(size_bytes));
    std::string body(static_cast<std::size_t>(wire::Reader(std::string_view(size_bytes, 4)).i32()), '\0');
    asio::read(s, asio::buffer(body));
    wire::Reader r(body);
    r.i32();  // correlation id
    std::map<std::int32_t, Broker> brokers;
    for (std::int32_t n = r.i32(); n > 0; --n) {
        Broker b{r.i32(), r.string(), r.i32()};
        r.nullable_string();
        brokers[b.node_id] = b;
    }
    return brokers;
}

asio::awaitable<void> accept(Gateway& g, tcp::acceptor acceptor, Broker broker) {
    for (;;) {
        tcp::socket client = co_await acceptor.async_accept(asio::use_awaitable);
        if (g.tls) {
            auto session = std::make_shared<Session<ssl::stream<tcp::socket>>>(g, ssl::stream<tcp::socket>(std::move(client), *g.tls), broker);
            asio::co_spawn(acceptor.get_executor(), session->run(session), asio::detached);
        } else {
            auto session = std::make_shared<Session<tcp::socket>>(g, std::move(client), broker);
            asio::co_spawn(acceptor.get_executor(), session->run(session), asio::detached);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string upstream, users_file, mechanisms, tls_cert, tls_key, advertised_host;
    std::int32_t visible_partitions = -1;
    po::options_description opts("starstream-auth-gateway options");
    opts.add_options()("help,h", "show this help")("upstream", po::value(&upstream)->required(), "a mock broker, host:port")(
        "users-file", po::value(&users_file), "user:password lines accepted by every mechanism; SIGHUP rereads it (required unless --no-sasl)")(
        "no-sasl", "no SASL phase: a PLAINTEXT listener in front of the mock cluster")(
        "visible-partitions", po::value(&visible_partitions), "Metadata shows only partitions 0..N-1 of each topic until SIGUSR1")(
        "mechanisms", po::value(&mechanisms)->default_value("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"), "enabled SASL mechanisms")(
        "tls-cert", po::value(&tls_cert), "PEM certificate chain of the listeners: TLS (SASL_SSL) instead of TCP")(
        "tls-key", po::value(&tls_key), "PEM private key of --tls-cert")(
        "advertised-host", po::value(&advertised_host)->default_value("127.0.0.1"), "host name in Metadata/FindCoordinator answers (must match the certificate)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        if (vm.count("help")) return std::cout << opts, 0;
        po::notify(vm);
        if (!vm.count("no-sasl") && users_file.empty()) throw std::invalid_argument("--users-file is required unless --no-sasl");
        if (vm.count("visible-partitions") && visible_partitions < 0) throw std::invalid_argument("--visible-partitions must be >= 0");
    } catch (const std::exception& e) {
        std::cerr << "starstream-auth-gateway: " << e.what() << "\n" << opts;
        return 2;
    }
    Gateway g;
    g.advertised_host = advertised_host;
    g.sasl = !vm.count("no-sasl");
    g.visible_partitions = visible_partitions;
    if (!tls_cert.empty()) {
        g.tls.emplace(ssl::context::tls_server);
        g.tls->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        g.tls->use_certificate_chain_file(tls_cert);
        g.tls->use_private_key_file(tls_key.empty() ? tls_cert : tls_key, ssl::context::pem);
    }
    boost::split(g.mechanisms, mechanisms, boost::is_any_of(","));
    if (g.sasl) load_users(g, users_file);
    asio::io_context io;
    asio::signal_set reveal(io, SIGUSR1);
    reveal.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        g.visible_partitions = -1;
        std::cerr << "auth-gateway: partitions revealed" << std::endl;
    });
    asio::signal_set reload(io, SIGHUP);
    std::function<void()> await_reload = [&] {
        reload.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            if (g.sasl) load_users(g, users_file);
            const auto open = g.live;  // closing ends sessions, which leave g.live
            for (const auto& [id, close] : open) close();
            std::cerr << "auth-gateway: users reloaded, " << open.size() << " connection(s) closed" << std::endl;
            await_reload();
        });
    };
    await_reload();
    g.upstream = discover(io, upstream);
    std::string bootstrap;
    for (const auto& [node_id, broker] : g.upstream) {
        tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
        g.local_port[node_id] = acceptor.local_endpoint().port();
        bootstrap += (bootstrap.empty() ? "" : ",") + g.advertised_host + ":" + std::to_string(acceptor.local_endpoint().port());
        asio::co_spawn(io, accept(g, std::move(acceptor), broker), asio::detached);
    }
    std::cout << bootstrap << std::endl;
    io.run();
    return 0;
}
