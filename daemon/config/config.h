// starstreamd's configuration: every key, its unit and default.
//
// Sources, strongest first: command-line flags (--section.key=value), environment variables
// (STARSTREAM_<SECTION>__<KEY>, see config.cpp), the INI file (--config), defaults.
// config/starstreamd.conf.example documents every key; a unit test checks that it names
// exactly the keys defined here. Thread rules: immutable after load.
#pragma once

#include "enrichment/enrichment_settings.h"
#include "pipeline/product_view/window_settings.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace starstream::daemon {

/// A configuration problem; `key()` names the offending key (or "" for the file itself).
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string key, const std::string& message)
        : std::runtime_error(key.empty() ? message : "configuration key '" + key + "': " + message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

struct Config {
    std::string command = "run";  ///< run | migrate | rebuild-windows | check-config | healthcheck | version | offsets
    std::string config_file;

    // [postgres]
    std::string postgres_dsn;                            ///< libpq connection string or URI (required)
    std::string postgres_password;                       ///< from postgres.password_file; overrides a DSN password
    std::chrono::milliseconds postgres_connect_timeout{10000};
    std::chrono::milliseconds postgres_retry_initial{500};   ///< first backoff after a failure
    std::chrono::milliseconds postgres_retry_max{30000};     ///< backoff ceiling
    std::string migrations_dir;                          ///< default: compiled-in sql/migrations path
    /// Server-side statement_timeout and the client's deadline for any one call (plus a margin):
    /// a hung server or a lost network never blocks a thread longer than this.
    std::chrono::milliseconds postgres_statement_timeout{60000};
    /// The most records dead-lettered because Postgres refuses them before a batch commits facts
    /// again (in one batch, or over consecutive batches that commit none); the batch that passes
    /// it is refused whole and the daemon stops (a table or spec problem, not bad records). 0:
    /// the first refused record stops it.
    std::size_t postgres_max_rejected_records = 100;

    // [pipelines]
    std::string pipelines_dir;                           ///< folder of pipeline specs (*.yaml); default: compiled-in pipelines/ path
    std::string pipeline_run = "product_view";           ///< the pipelines this instance runs (comma-separated spec names)
    std::string pipelines_compiled = "none";             ///< the pipelines run from compiled code rather than their spec (comma-separated; none)

    // [instance]
    std::string instance_id;                             ///< default: <hostname>-<pid>; recorded with batches and claims

    // [source]
    std::vector<std::string> topics{"product_view"};
    std::string starting_offsets = "earliest";           ///< earliest | latest, for partitions with no checkpoint
    std::size_t max_event_bytes = 65536;                 ///< larger messages are dead-lettered
    std::chrono::milliseconds startup_timeout{15000};    ///< broker metadata at start-up
    bool stop_when_caught_up = false;                    ///< exit once every partition reached its end (back-fills, tests)
    /// earliest | latest | fail: where to go when a checkpoint is outside the partition's log
    /// (retention deleted it, or the topic was recreated). The gap is recorded either way.
    std::string offset_out_of_range = "earliest";
    std::chrono::milliseconds ownership_check_interval{2000};  ///< how often claimed epochs are re-read (online resets)

    // [batch]
    std::chrono::milliseconds trigger_interval{1000};
    std::size_t max_records = 50000;
    std::size_t max_bytes = 64u << 20;

    // [time]
    std::chrono::milliseconds allowed_out_of_orderness{300000};  ///< watermark = max event time - this
    std::chrono::milliseconds idle_timeout{30000};               ///< a caught-up partition quiet this long stops holding the watermark
    std::int64_t min_event_time_us = 946684800000000;            ///< time.min_event_time (default 2000-01-01T00:00:00Z), Unix microseconds
    std::chrono::milliseconds max_event_time_ahead{86400000};    ///< event time later than now + this is a dead letter
    /// Watermark alignment: a partition whose watermark runs more than this ahead of the
    /// slowest partition of this instance is paused until the slowest catches up; 0: off.
    std::chrono::milliseconds watermark_alignment_drift{1800000};

    // [enrichment] and time.reporting_time_zone
    enrichment::EnrichmentSettings enrichment;

    // [windows]
    product_view::WindowSettings windows;
    /// The windows.* keys that only the compiled product_view pipeline reads, set to other than
    /// their defaults: a spec states its own gap, lateness and late policies, so run refuses them
    /// while product_view runs from its spec (pipeline::ignored_keys_problem) rather than ignore them.
    std::vector<std::string> compiled_window_keys;

    // [http]
    bool http_enabled = true;
    std::string http_listen_address = "127.0.0.1";
    std::uint16_t http_port = 9470;                      ///< 0: any free port (logged)
    std::chrono::milliseconds http_read_timeout{10000};  ///< per request; idle keep-alive connections close after it

    // [health]
    std::chrono::milliseconds liveness_timeout{60000};   ///< a loop silent this long fails /livez
    std::int64_t max_lag_records = 500000;               ///< /readyz fails above this lag on any partition
    std::chrono::milliseconds max_watermark_age{600000}; ///< /readyz fails when a lagging partition's watermark is older

    // [log]
    std::string log_level = "info";                      ///< trace | debug | info | warn | error
    std::string log_format = "text";                     ///< text | json (one JSON object per line)
    std::chrono::milliseconds progress_interval{10000};  ///< period of the info progress line

    // [shutdown]
    std::chrono::milliseconds shutdown_timeout{30000};   ///< how long SIGTERM waits for the open batch

    /// librdkafka consumer properties, from keys under `kafka.` with the prefix removed.
    std::map<std::string, std::string> kafka;
};

/// Parses flags, environment and file. Throws ConfigError naming the key on an unknown key,
/// an invalid value or an unreadable file. `environ` is the process environment (envp).
Config load_config(int argc, const char* const argv[], const char* const* environ);

/// The keys `load_config` accepts (without kafka.*), for the documentation test and --help.
std::vector<std::string> config_keys();

/// The help text for the command line.
std::string config_help();

/// The items of a comma-separated value, trimmed, empty ones dropped ("a, b,," -> {a, b}).
std::vector<std::string> comma_list(const std::string& text);

/// A DSN with its password removed, safe to log.
std::string redact_dsn(const std::string& dsn);

}  // namespace starstream::daemon
