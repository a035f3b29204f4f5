#include "config/config.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <date/date.h>

#include <boost/algorithm/string.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#ifndef STARSTREAM_PIPELINES_DIR
#define STARSTREAM_PIPELINES_DIR "pipelines"
#endif
#ifndef STARSTREAM_MIGRATIONS_DIR
#define STARSTREAM_MIGRATIONS_DIR "sql/migrations"
#endif

namespace po = boost::program_options;

namespace starstream::daemon {

namespace {

constexpr const char* kEnvPrefix = "STARSTREAM_";

/// Raw values as read; converted and checked by `finish`.
struct RawConfig {
    std::int64_t postgres_connect_timeout_ms, postgres_retry_initial_ms, postgres_retry_max_ms, postgres_statement_timeout_ms;
    std::int64_t postgres_max_rejected_records;
    std::int64_t ownership_check_interval_ms, max_event_time_ahead_ms;
    std::string min_event_time;
    std::string topics;
    std::int64_t max_event_bytes, startup_timeout_ms;
    std::int64_t trigger_interval_ms, max_records, max_bytes;
    std::int64_t progress_interval_ms, shutdown_timeout_ms;
    std::int64_t http_port, http_read_timeout_ms, liveness_timeout_ms, max_lag_records, max_watermark_age_ms;
    std::int64_t allowed_out_of_orderness_ms, idle_timeout_ms, watermark_alignment_drift_ms;
    std::int64_t user_agent_cache_entries;
    std::int64_t allowed_lateness_ms, visit_gap_ms, watermark_batch_step_ms;
    std::string late_policies[product_view::kWindowedTables];
};

po::options_description key_options(Config& c, RawConfig& r) {
    po::options_description d("Configuration keys (file sections [postgres], [source], ...; flags --section.key=value)");
    d.add_options()
        ("postgres.dsn", po::value(&c.postgres_dsn), "libpq connection string or URI of the star schema database (required)")
        ("postgres.password_file", po::value<std::string>(), "file holding the Postgres password (relative: under $CREDENTIALS_DIRECTORY)")
        ("postgres.connect_timeout_ms", po::value(&r.postgres_connect_timeout_ms)->default_value(10000), "connection timeout, milliseconds")
        ("postgres.retry_initial_ms", po::value(&r.postgres_retry_initial_ms)->default_value(500), "first backoff after a failed batch commit, milliseconds")
        ("postgres.retry_max_ms", po::value(&r.postgres_retry_max_ms)->default_value(30000), "backoff ceiling, milliseconds")
        ("postgres.max_rejected_records", po::value(&r.postgres_max_rejected_records)->default_value(100), "the most records dead-lettered because Postgres refuses them (a constraint, a type) before a batch commits facts again, in one batch or over consecutive batches that commit none; the batch that passes it is refused whole and the daemon stops (exit 4) with nothing of it written: so many is a table or spec problem, not bad records. 0: the first refused record stops it")
        ("postgres.migrations_dir", po::value(&c.migrations_dir)->default_value(STARSTREAM_MIGRATIONS_DIR), "folder of NNN_*.sql migrations")
        ("postgres.statement_timeout_ms", po::value(&r.postgres_statement_timeout_ms)->default_value(60000), "longest any one Postgres call may take (server statement_timeout and client deadline), milliseconds")
        ("pipelines.dir", po::value(&c.pipelines_dir)->default_value(STARSTREAM_PIPELINES_DIR), "folder of pipeline specs (*.yaml), validated by check-config and before run consumes; migrate and run create the tables they need")
        ("pipelines.run", po::value(&c.pipeline_run)->default_value("product_view"), "the pipelines this instance consumes, comma-separated names of specs in pipelines.dir; each has its own consumer in the one consumer group and reads its spec's topics (a compiled pipeline: source.topics)")
        ("pipelines.compiled", po::value(&c.pipelines_compiled)->default_value("none"), "the pipelines run from compiled code rather than from their spec, comma-separated (product_view is the one compiled pipeline, reading source.topics; none: every pipeline runs from its spec)")
        ("instance.id", po::value(&c.instance_id)->default_value(""), "name of this instance in batches, claims, /status and logs; empty: <hostname>-<pid>")
        ("source.topics", po::value(&r.topics)->default_value("product_view"), "comma-separated Kafka topics")
        ("source.starting_offsets", po::value(&c.starting_offsets)->default_value("earliest"), "earliest | latest: where a partition without checkpoint starts")
        ("source.offset_out_of_range", po::value(&c.offset_out_of_range)->default_value("earliest"), "earliest | latest | fail: what to do when a checkpoint is outside the partition's log (the gap is recorded in starstream.offset_gap)")
        ("source.ownership_check_interval_ms", po::value(&r.ownership_check_interval_ms)->default_value(2000), "how often owned partitions' epochs are re-read, so an online reset is followed within this, milliseconds")
        ("source.max_event_bytes", po::value(&r.max_event_bytes)->default_value(65536), "larger messages become dead letters, bytes")
        ("source.startup_timeout_ms", po::value(&r.startup_timeout_ms)->default_value(15000), "how long start-up waits for broker metadata, milliseconds")
        ("source.stop_when_caught_up", po::value(&c.stop_when_caught_up)->default_value(false), "exit 0 once every assigned partition is consumed to its end and committed")
        ("batch.trigger_interval_ms", po::value(&r.trigger_interval_ms)->default_value(1000), "a non-empty micro-batch is committed after this long, milliseconds")
        ("batch.max_records", po::value(&r.max_records)->default_value(25000), "records that seal a micro-batch (at most two batches are in memory: one filling, one committing)")
        ("batch.max_bytes", po::value(&r.max_bytes)->default_value(64 << 20), "message bytes that seal a micro-batch")
        ("time.allowed_out_of_orderness_ms", po::value(&r.allowed_out_of_orderness_ms)->default_value(300000), "watermark = highest event time seen minus this, milliseconds")
        ("time.idle_timeout_ms", po::value(&r.idle_timeout_ms)->default_value(30000), "a caught-up partition quiet this long no longer holds the watermark back, milliseconds")
        ("time.min_event_time", po::value(&r.min_event_time)->default_value("2000-01-01T00:00:00Z"), "earlier event times are dead letters (event_time_out_of_range), ISO 8601 UTC")
        ("time.max_event_time_ahead_ms", po::value(&r.max_event_time_ahead_ms)->default_value(86400000), "event times later than now plus this are dead letters; the watermark never passes now plus this, milliseconds")
        ("time.watermark_alignment_drift_ms", po::value(&r.watermark_alignment_drift_ms)->default_value(1800000), "a partition whose watermark runs more than this ahead of the slowest partition is paused until it catches up (watermark alignment), milliseconds; 0: off")
        ("time.reporting_time_zone", po::value(&c.enrichment.reporting_time_zone)->default_value("UTC"), "IANA time zone of fact_event.date_key and hour (reports use it); fixed once facts exist")
        ("enrichment.geoip_country_v4", po::value(&c.enrichment.geoip_country_v4)->default_value(c.enrichment.geoip_country_v4), "GeoIP country database for IPv4 (geoip-database package)")
        ("enrichment.geoip_country_v6", po::value(&c.enrichment.geoip_country_v6)->default_value(c.enrichment.geoip_country_v6), "GeoIP country database for IPv6")
        ("enrichment.city_database", po::value(&c.enrichment.city_database)->default_value(""), "MaxMind-format city database (.mmdb: GeoLite2-City, DB-IP City Lite) for region and city; empty: none")
        ("enrichment.user_agent_regexes", po::value(&c.enrichment.user_agent_regexes)->default_value(c.enrichment.user_agent_regexes), "ua-parser rules (uap-core regexes.yaml); point it at a newer copy to update")
        ("enrichment.user_agent_cache_entries", po::value(&r.user_agent_cache_entries)->default_value(100000), "parsed User-Agent headers kept in memory (about 1 KiB each)")
        ("windows.enabled", po::value(&c.windows.enabled)->default_value(true), "maintain the windowed tables: every spec's windows (its tables are left as they are while false) and the compiled product_view's")
        ("windows.allowed_lateness_ms", po::value(&r.allowed_lateness_ms)->default_value(3600000), "how long a final window stays correctable by late records (policy correct), milliseconds")
        ("windows.visit_gap_ms", po::value(&r.visit_gap_ms)->default_value(1800000), "inactivity that ends a visit (session window gap), milliseconds")
        ("windows.watermark_batch_step_ms", po::value(&r.watermark_batch_step_ms)->default_value(60000), "on a quiet topic, a batch without records is committed when the watermark moved this much, milliseconds")
        ("windows.hourly_product_views_late_policy", po::value(&r.late_policies[0])->default_value("correct"), "drop | dead-letter | correct: late records of win_hourly_product_views")
        ("windows.trending_products_late_policy", po::value(&r.late_policies[1])->default_value("dead-letter"), "drop | dead-letter | correct: late records of the trending products (win_product_view_panes)")
        ("windows.visits_late_policy", po::value(&r.late_policies[2])->default_value("correct"), "drop | dead-letter | correct: late records of win_visits")
        ("http.enabled", po::value(&c.http_enabled)->default_value(true), "serve /livez, /readyz, /metrics and /status")
        ("http.listen_address", po::value(&c.http_listen_address)->default_value("127.0.0.1"), "IP address the HTTP server binds (0.0.0.0 in containers)")
        ("http.port", po::value(&r.http_port)->default_value(9470), "HTTP port; 0 picks a free one (logged)")
        ("http.read_timeout_ms", po::value(&r.http_read_timeout_ms)->default_value(10000), "time a client has to send a request, milliseconds")
        ("health.liveness_timeout_ms", po::value(&r.liveness_timeout_ms)->default_value(60000), "/livez fails when the consume or sink loop is silent this long, milliseconds")
        ("health.max_lag_records", po::value(&r.max_lag_records)->default_value(500000), "/readyz fails when a partition lags by more records")
        ("health.max_watermark_age_ms", po::value(&r.max_watermark_age_ms)->default_value(600000), "/readyz fails when a lagging partition's watermark is older, milliseconds")
        ("log.level", po::value(&c.log_level)->default_value("info"), "trace | debug | info | warn | error")
        ("log.format", po::value(&c.log_format)->default_value("text"), "text | json (one JSON object per line)")
        ("log.progress_interval_ms", po::value(&r.progress_interval_ms)->default_value(10000), "period of the progress log line, milliseconds")
        ("shutdown.timeout_ms", po::value(&r.shutdown_timeout_ms)->default_value(30000), "how long SIGTERM waits for the open batch to commit, milliseconds");
    return d;
}

po::options_description general_options(Config& c) {
    po::options_description d("General options");
    d.add_options()
        ("help,h", "show this help")
        ("config,c", po::value(&c.config_file), "INI configuration file (also STARSTREAM_CONFIG)")
        ("command", po::value(&c.command)->default_value("run"), "run | migrate | rebuild-windows | check-config | healthcheck | version | offsets (show | reset)");
    return d;
}

/// STARSTREAM_BATCH__MAX_RECORDS -> batch.max_records; STARSTREAM_KAFKA__SASL_USERNAME ->
/// kafka.sasl.username (librdkafka property names use dots only). "" if not ours.
std::string env_to_key(const std::string& name) {
    if (name.rfind(kEnvPrefix, 0) != 0) return "";
    std::string rest = boost::algorithm::to_lower_copy(name.substr(std::char_traits<char>::length(kEnvPrefix)));
    if (rest == "config") return "config";
    auto sep = rest.find("__");
    if (sep == std::string::npos) return "";
    std::string section = rest.substr(0, sep), key = rest.substr(sep + 2);
    if (section == "kafka") {
        // Property names use dots; a trailing _file (the value comes from a file) stays.
        const bool from_file = key.size() > 5 && key.compare(key.size() - 5, 5, "_file") == 0;
        if (from_file) key.resize(key.size() - 5);
        std::replace(key.begin(), key.end(), '_', '.');
        if (from_file) key += "_file";
    }
    return section + "." + key;
}

/// The contents of a secret file, without a trailing newline. A relative path is resolved in
/// $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) when set. Throws ConfigError naming `key`.
std::string read_secret_file(const std::string& key, const std::string& path) {
    std::string resolved = path;
    const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
    if (!path.empty() && path[0] != '/' && credentials && *credentials) resolved = std::string(credentials) + "/" + path;
    std::ifstream in(resolved, std::ios::binary);
    if (!in) throw ConfigError(key, "cannot read the secret file '" + resolved + "'");
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    return secret;
}

void collect_unregistered(const po::parsed_options& parsed, const std::string& where, std::map<std::string, std::string>& kafka) {
    for (const auto& option : parsed.options) {
        if (!option.unregistered) continue;
        const std::string& key = option.string_key;
        if (key.rfind("kafka.", 0) != 0 || key.size() <= 6)
            throw ConfigError(key, "unknown key (" + where + "); see config/starstreamd.conf.example");
        if (option.value.size() != 1) throw ConfigError(key, "expects one value, written as key=value (" + where + ")");
        kafka[key.substr(6)] = option.value.front();
    }
}

/// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" in UTC -> Unix microseconds. Throws ConfigError naming `key`.
std::int64_t parse_utc_time(const char* key, const std::string& text) {
    std::istringstream in(text);
    date::sys_seconds t;
    in >> date::parse(text.size() <= 10 ? "%F" : "%FT%T", t);
    if (in.fail()) throw ConfigError(key, "must be an ISO 8601 UTC time such as 2000-01-01T00:00:00Z, got '" + text + "'");
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

/// <hostname>-<pid>: unique among instances on one host and across hosts.
std::string default_instance_id() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || !*host) std::snprintf(host, sizeof host, "localhost");
    return std::string(host) + "-" + std::to_string(getpid());
}

template <typename T>
T positive(const char* key, std::int64_t value) {
    if (value <= 0) throw ConfigError(key, "must be greater than 0, got " + std::to_string(value));
    return static_cast<T>(value);
}

void finish(Config& c, const RawConfig& r) {
    using ms = std::chrono::milliseconds;
    c.postgres_connect_timeout = ms(positive<std::int64_t>("postgres.connect_timeout_ms", r.postgres_connect_timeout_ms));
    c.postgres_retry_initial = ms(positive<std::int64_t>("postgres.retry_initial_ms", r.postgres_retry_initial_ms));
    c.postgres_retry_max = ms(positive<std::int64_t>("postgres.retry_max_ms", r.postgres_retry_max_ms));
    c.postgres_statement_timeout = ms(positive<std::int64_t>("postgres.statement_timeout_ms", r.postgres_statement_timeout_ms));
    if (r.postgres_max_rejected_records < 0)
        throw ConfigError("postgres.max_rejected_records", "must be 0 or more, got " + std::to_string(r.postgres_max_rejected_records));
    c.postgres_max_rejected_records = static_cast<std::size_t>(r.postgres_max_rejected_records);
    c.ownership_check_interval = ms(positive<std::int64_t>("source.ownership_check_interval_ms", r.ownership_check_interval_ms));
    c.max_event_time_ahead = ms(positive<std::int64_t>("time.max_event_time_ahead_ms", r.max_event_time_ahead_ms));
    c.min_event_time_us = parse_utc_time("time.min_event_time", r.min_event_time);
    if (c.offset_out_of_range != "earliest" && c.offset_out_of_range != "latest" && c.offset_out_of_range != "fail")
        throw ConfigError("source.offset_out_of_range", "must be earliest, latest or fail; got '" + c.offset_out_of_range + "'");
    if (c.instance_id.empty()) c.instance_id = default_instance_id();
    c.max_event_bytes = positive<std::size_t>("source.max_event_bytes", r.max_event_bytes);
    c.startup_timeout = ms(positive<std::int64_t>("source.startup_timeout_ms", r.startup_timeout_ms));
    c.trigger_interval = ms(positive<std::int64_t>("batch.trigger_interval_ms", r.trigger_interval_ms));
    c.max_records = positive<std::size_t>("batch.max_records", r.max_records);
    c.max_bytes = positive<std::size_t>("batch.max_bytes", r.max_bytes);
    c.progress_interval = ms(positive<std::int64_t>("log.progress_interval_ms", r.progress_interval_ms));
    c.shutdown_timeout = ms(positive<std::int64_t>("shutdown.timeout_ms", r.shutdown_timeout_ms));
    if (r.allowed_out_of_orderness_ms < 0)
        throw ConfigError("time.allowed_out_of_orderness_ms", "must be 0 or more, got " + std::to_string(r.allowed_out_of_orderness_ms));
    c.allowed_out_of_orderness = ms(r.allowed_out_of_orderness_ms);
    c.idle_timeout = ms(positive<std::int64_t>("time.idle_timeout_ms", r.idle_timeout_ms));
    // The upper bound keeps the drift in microseconds far from overflow; 10 years is off in effect.
    constexpr std::int64_t kMaxDriftMs = 10LL * 365 * 86400000;
    if (r.watermark_alignment_drift_ms < 0 || r.watermark_alignment_drift_ms > kMaxDriftMs)
        throw ConfigError("time.watermark_alignment_drift_ms", "must be 0 (off) .. " + std::to_string(kMaxDriftMs) + " (10 years), got " +
                                                                 std::to_string(r.watermark_alignment_drift_ms));
    c.watermark_alignment_drift = ms(r.watermark_alignment_drift_ms);
    c.enrichment.user_agent_cache_entries = positive<std::size_t>("enrichment.user_agent_cache_entries", r.user_agent_cache_entries);
    c.windows.allowed_lateness_us = 1000 * positive<std::int64_t>("windows.allowed_lateness_ms", r.allowed_lateness_ms);
    c.windows.visit_gap_us = 1000 * positive<std::int64_t>("windows.visit_gap_ms", r.visit_gap_ms);
    c.windows.watermark_batch_step_us = 1000 * positive<std::int64_t>("windows.watermark_batch_step_ms", r.watermark_batch_step_ms);
    static const char* const policy_keys[] = {"windows.hourly_product_views_late_policy", "windows.trending_products_late_policy",
                                              "windows.visits_late_policy"};
    for (int t = 0; t < product_view::kWindowedTables; ++t) {
        const std::string& p = r.late_policies[t];
        if (p == "drop") c.windows.late_policy[t] = engine::LatePolicy::drop;
        else if (p == "dead-letter") c.windows.late_policy[t] = engine::LatePolicy::dead_letter;
        else if (p == "correct") c.windows.late_policy[t] = engine::LatePolicy::correct;
        else throw ConfigError(policy_keys[t], "must be drop, dead-letter or correct; got '" + p + "'");
    }
    // Set to other than their defaults, which pipelines/product_view.yaml states as well (a
    // config file written for the compiled pipeline, with the defaults spelled out, still runs).
    const product_view::WindowSettings defaults;
    if (c.windows.allowed_lateness_us != defaults.allowed_lateness_us) c.compiled_window_keys.push_back("windows.allowed_lateness_ms");
    if (c.windows.visit_gap_us != defaults.visit_gap_us) c.compiled_window_keys.push_back("windows.visit_gap_ms");
    for (int t = 0; t < product_view::kWindowedTables; ++t)
        if (c.windows.late_policy[t] != defaults.late_policy[t]) c.compiled_window_keys.push_back(policy_keys[t]);
    if (r.http_port < 0 || r.http_port > 65535) throw ConfigError("http.port", "must be 0..65535, got " + std::to_string(r.http_port));
    c.http_port = static_cast<std::uint16_t>(r.http_port);
    c.http_read_timeout = ms(positive<std::int64_t>("http.read_timeout_ms", r.http_read_timeout_ms));
    c.liveness_timeout = ms(positive<std::int64_t>("health.liveness_timeout_ms", r.liveness_timeout_ms));
    c.max_lag_records = positive<std::int64_t>("health.max_lag_records", r.max_lag_records);
    c.max_watermark_age = ms(positive<std::int64_t>("health.max_watermark_age_ms", r.max_watermark_age_ms));
    if (c.log_format != "text" && c.log_format != "json") throw ConfigError("log.format", "must be text or json, got '" + c.log_format + "'");

    c.topics = comma_list(r.topics);
    if (c.topics.empty()) throw ConfigError("source.topics", "names no topic");
    if (c.starting_offsets != "earliest" && c.starting_offsets != "latest")
        throw ConfigError("source.starting_offsets", "must be earliest or latest, got '" + c.starting_offsets + "'");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
    if (!levels.count(c.log_level)) throw ConfigError("log.level", "must be one of trace, debug, info, warn, error; got '" + c.log_level + "'");
    static const std::set<std::string> commands{"run", "migrate", "rebuild-windows", "check-config", "healthcheck", "version", "offsets"};
    if (!commands.count(c.command))
        throw ConfigError("", "unknown command '" + c.command + "' (run, migrate, rebuild-windows, check-config, healthcheck, version, offsets)");
    if ((c.command == "run" || c.command == "migrate" || c.command == "rebuild-windows" || c.command == "offsets") && c.postgres_dsn.empty())
        throw ConfigError("postgres.dsn", "is required (file [postgres] dsn=..., STARSTREAM_POSTGRES__DSN or --postgres.dsn)");
    if (!c.postgres_dsn.empty()) {
        char* err = nullptr;
        PQconninfoOption* parsed = PQconninfoParse(c.postgres_dsn.c_str(), &err);
        if (!parsed) {
            std::string what = err ? err : "cannot parse";
            PQfreemem(err);
            boost::trim(what);
            // libpq quotes the part it stumbled on, which may be a password (a URI's user:secret@,
            // or what follows password=): then only the shape of the mistake is told.
            const bool may_quote_secret = c.postgres_dsn.find("password") != std::string::npos || c.postgres_dsn.find('@') != std::string::npos;
            throw ConfigError("postgres.dsn", may_quote_secret ? "is not a valid libpq connection string (keyword=value pairs or a postgresql:// URI; "
                                                                 "libpq's detail is withheld: it may quote the password)"
                                                               : "is not a valid libpq connection string: " + what);
        }
        PQconninfoFree(parsed);
    }
    if ((c.command == "run" || c.command == "offsets") && !c.kafka.count("bootstrap.servers"))
        throw ConfigError("kafka.bootstrap.servers", "is required (file [kafka] bootstrap.servers=..., STARSTREAM_KAFKA__BOOTSTRAP_SERVERS)");
}

/// po's messages name the option as it was written; wrap them so the key leads.
template <typename F>
void with_key_errors(F&& f) {
    try {
        f();
    } catch (const po::error_with_option_name& e) {
        std::string key = e.get_option_name();
        while (!key.empty() && key.front() == '-') key.erase(0, 1);
        throw ConfigError(key, e.what());
    } catch (const po::error& e) {
        throw ConfigError("", e.what());
    }
}

}  // namespace

Config load_config(int argc, const char* const argv[], const char* const* environ) {
    Config c;
    RawConfig r{};
    po::options_description keys = key_options(c, r);
    po::options_description general = general_options(c);
    po::options_description all;
    all.add(general).add(keys);
    po::positional_options_description positional;
    positional.add("command", 1);

    std::map<std::string, std::string> kafka_file, kafka_env, kafka_flags;
    po::variables_map vm;
    with_key_errors([&] {
        auto flags = po::command_line_parser(argc, argv).options(all).positional(positional).allow_unregistered().run();
        collect_unregistered(flags, "command line", kafka_flags);
        po::store(flags, vm);

        std::vector<std::string> env_args;
        for (auto e = environ; e && *e; ++e) {
            std::string entry = *e;
            auto eq = entry.find('=');
            if (eq == std::string::npos) continue;
            std::string key = env_to_key(entry.substr(0, eq));
            if (!key.empty()) env_args.push_back("--" + key + "=" + entry.substr(eq + 1));
        }
        auto env = po::command_line_parser(env_args).options(all).allow_unregistered().run();
        collect_unregistered(env, "environment", kafka_env);
        po::store(env, vm);

        if (vm.count("config")) {
            const std::string file = vm["config"].as<std::string>();
            std::ifstream in(file);
            if (!in) throw ConfigError("config", "cannot read configuration file '" + file + "'");
            auto parsed = po::parse_config_file(in, keys, true);
            collect_unregistered(parsed, file, kafka_file);
            po::store(parsed, vm);
        }
        po::notify(vm);
    });
    if (vm.count("help")) {
        c.command = "help";
        return c;
    }
    c.kafka = kafka_file;
    for (const auto& [k, v] : kafka_env) c.kafka[k] = v;
    for (const auto& [k, v] : kafka_flags) c.kafka[k] = v;
    // kafka.<property>_file: the property's value is read from a file (secrets).
    for (auto it = c.kafka.begin(); it != c.kafka.end();) {
        const std::string& key = it->first;
        if (key.size() > 5 && key.compare(key.size() - 5, 5, "_file") == 0) {
            c.kafka[key.substr(0, key.size() - 5)] = read_secret_file("kafka." + key, it->second);
            it = c.kafka.erase(it);
        } else {
            ++it;
        }
    }
    if (vm.count("postgres.password_file"))
        c.postgres_password = read_secret_file("postgres.password_file", vm["postgres.password_file"].as<std::string>());
    finish(c, r);
    return c;
}

std::vector<std::string> config_keys() {
    Config c;
    RawConfig r{};
    std::vector<std::string> names;
    const po::options_description keys = key_options(c, r);
    for (const auto& option : keys.options()) names.push_back(option->long_name());
    return names;
}

std::string config_help() {
    Config c;
    RawConfig r{};
    std::ostringstream out;
    out << "usage: starstreamd [run|migrate|rebuild-windows|check-config|healthcheck|version] [--config FILE] [--section.key=value ...]\n"
        << "       starstreamd offsets show|reset [offsets arguments, see below] [--config FILE] [--section.key=value ...]\n\n"
        << general_options(c) << "\n"
        << key_options(c, r) << "\n"
        << "  --kafka.<property>=value  any librdkafka consumer property (also [kafka] in the file)\n\n"
        << "Environment: STARSTREAM_CONFIG, STARSTREAM_<SECTION>__<KEY> (e.g. STARSTREAM_POSTGRES__DSN,\n"
        << "STARSTREAM_KAFKA__BOOTSTRAP_SERVERS). Flags override the environment, which overrides the file.\n";
    return out.str();
}

std::vector<std::string> comma_list(const std::string& text) {
    std::vector<std::string> items;
    boost::split(items, text, boost::is_any_of(","));
    for (auto& item : items) boost::trim(item);
    std::erase_if(items, [](const std::string& item) { return item.empty(); });
    return items;
}

std::string redact_dsn(const std::string& dsn) {
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &err);
    if (!options) {
        PQfreemem(err);
        return "(unparsable DSN)";
    }
    std::string out;
    for (PQconninfoOption* o = options; o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        std::string keyword = o->keyword;
        if (keyword != "host" && keyword != "hostaddr" && keyword != "port" && keyword != "dbname" && keyword != "user" &&
            keyword != "sslmode" && keyword != "application_name")
            continue;
        if (!out.empty()) out += ' ';
        out += keyword + "=" + o->val;
    }
    PQconninfoFree(options);
    return out;
}

}  // namespace starstream::daemon
