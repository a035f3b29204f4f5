#include "http/routes.h"

#include <chrono>

namespace starstream::daemon::http {

namespace beast_http = boost::beast::http;

namespace {

Response respond(const Request& req, beast_http::status status, std::string content_type, std::string body) {
    Response res{status, req.version()};
    res.set(beast_http::field::server, "starstreamd");
    res.set(beast_http::field::content_type, content_type);
    res.set(beast_http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = req.method() == beast_http::verb::head ? std::string() : std::move(body);
    res.prepare_payload();
    return res;
}

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

Response livez(const Request& req, const StatusSource& src) {
    auto checks = liveness(src.state.snapshot(), src.limits, std::chrono::steady_clock::now());
    std::string body;
    bool ok = true;
    for (const auto& c : checks) {
        ok = ok && c.ok;
        if (!c.ok) body += c.name + ": " + c.detail + "\n";
    }
    return respond(req, ok ? beast_http::status::ok : beast_http::status::service_unavailable, "text/plain; charset=utf-8", ok ? "ok\n" : body);
}

Response readyz(const Request& req, const StatusSource& src, bool verbose) {
    auto checks = readiness(src.state.snapshot(), src.limits, unix_now());
    bool ok = std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok; });
    const auto status = ok ? beast_http::status::ok : beast_http::status::service_unavailable;
    if (verbose) {
        std::string body;
        for (const auto& c : checks) body += (c.ok ? "[+] " : "[-] ") + c.name + (c.ok ? " ok" : ": " + c.detail) + "\n";
        body += ok ? "readyz check passed\n" : "readyz check failed\n";
        return respond(req, status, "text/plain; charset=utf-8", body);
    }
    nlohmann::json failing = nlohmann::json::array();
    for (const auto& c : checks)
        if (!c.ok) failing.push_back({{"check", c.name}, {"detail", c.detail}});
    return respond(req, status, "application/json", nlohmann::json{{"status", ok ? "ok" : "fail"}, {"failing", failing}}.dump() + "\n");
}

Response status(const Request& req, const StatusSource& src) {
    const PipelineSnapshot s = src.state.snapshot();
    nlohmann::json partitions = nlohmann::json::array();
    for (const auto& p : s.partitions)
        partitions.push_back({{"topic", p.topic}, {"partition", p.partition}, {"position", p.position}, {"high_watermark", p.high_watermark},
                              {"lag_records", p.lag_records}, {"lag_seconds", p.lag_seconds}, {"watermark", p.watermark},
                              {"aligned_paused", p.aligned_paused}});
    nlohmann::json body = {
        {"version", STARSTREAM_VERSION},
        {"uptime_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count()},
        {"config", src.config_summary},
        {"partitions", partitions},
        {"last_batch", {{"batch_id", s.last_batch.batch_id}, {"records", s.last_batch.records}, {"committed_at", s.last_batch.committed_at},
                        {"stage_seconds", s.last_batch.stage_seconds}, {"merge_seconds", s.last_batch.merge_seconds},
                        {"commit_seconds", s.last_batch.commit_seconds}}},
        {"last_commit_failed", s.last_commit_failed},
        {"postgres_reachable", s.postgres_reachable},
        {"kafka_security_failure", s.kafka_security_failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.kafka_security_failure)},
    };
    return respond(req, beast_http::status::ok, "application/json", body.dump(2) + "\n");
}

}  // namespace

Response error_response(beast_http::status status, const std::string& text, unsigned version, bool keep_alive) {
    Response res{status, version};
    res.set(beast_http::field::server, "starstreamd");
    res.set(beast_http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(keep_alive);
    res.body() = text + "\n";
    res.prepare_payload();
    return res;
}

Response handle_request(const Request& req, const StatusSource& src) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view{};
    const bool known = path == "/livez" || path == "/readyz" || path == "/metrics" || path == "/status";
    if (!known) return error_response(beast_http::status::not_found, "not found", req.version(), req.keep_alive());
    if (req.method() != beast_http::verb::get && req.method() != beast_http::verb::head) {
        Response res = error_response(beast_http::status::method_not_allowed, "method not allowed", req.version(), req.keep_alive());
        res.set(beast_http::field::allow, "GET, HEAD");
        return res;
    }
    if (path == "/livez") return livez(req, src);
    if (path == "/readyz") return readyz(req, src, query == "verbose" || query.rfind("verbose=", 0) == 0);
    if (path == "/metrics") return respond(req, beast_http::status::ok, "text/plain; version=0.0.4; charset=utf-8", src.probe.exposition());
    return status(req, src);
}

}  // namespace starstream::daemon::http
