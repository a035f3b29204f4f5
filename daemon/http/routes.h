// handle_request: one HTTP request in, one response out; knows nothing of sockets.
//   GET /livez           200 "ok" while both loops make progress, else 503 and why
//   GET /readyz          200 when every readiness check passes, else 503 with a JSON body
//                        naming the failing checks; /readyz?verbose gives a text list
//   GET /metrics         Prometheus text format 0.0.4
//   GET /status          JSON: version, uptime, config summary (no secrets), partitions, last batch
//   other paths 404; other methods 405 (with Allow). HEAD is answered like GET without a body.
#pragma once

#include "http/health_checks.h"
#include "lifecycle/pipeline_state.h"
#include "metrics/pipeline_probe.h"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace starstream::daemon::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// What the handlers read. The referenced objects outlive the HTTP server.
struct StatusSource {
    const PipelineState& state;
    const metrics::PipelineProbe& probe;
    HealthLimits limits;
    nlohmann::json config_summary;  ///< already redacted
};

Response handle_request(const Request& request, const StatusSource& source);

/// A plain-text error response (400, 404, 405, 413...).
Response error_response(boost::beast::http::status status, const std::string& text, unsigned version, bool keep_alive);

}  // namespace starstream::daemon::http
