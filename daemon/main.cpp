// starstreamd: Kafka topics -> PostgreSQL star schema, exactly once, one pipeline spec per topic family.
//
// Commands: run (default; validates the pipeline specs, applies pending SQL migrations and the
// statements generated from the specs, compares the specs with the database, then consumes),
// migrate (the same without consuming), check-config (configuration, specs, and specs against
// the database when it answers, with the statements migrate would apply: a dry run),
// healthcheck (exit 0 when a running daemon's /readyz answers 200, else 1), version, offsets show|reset
// (checkpoints against the Kafka log; tools/offsets_command.h), rebuild-windows (the windowed
// tables recomputed from fact_event; tools/rebuild_windows_command.h).
// Exit codes: 0 clean stop; 1 runtime failure; 2 configuration error (names the key); 3 a
// dependency (Postgres, Kafka) unreachable or refusing at start-up; 4 Postgres refuses a batch
// and no record is to blame; 5 a checkpoint outside the log with source.offset_out_of_range =
// fail (lifecycle/fatal_stop.h).
#include "config/config.h"
#include "enrichment/enrichment.h"
#include "http/http_server.h"
#include "http/readiness_probe.h"
#include "lifecycle/logging.h"
#include "lifecycle/stream_service.h"
#include "lifecycle/systemd_notifier.h"
#include "pipeline/compiled_pipelines.h"
#include "sink/postgres/migrator.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/pg_settings.h"
#include "sink/postgres/reporting_time_zone.h"
#include "sink/postgres/schema_check.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/spec_migrator.h"
#include "spec/spec_reader.h"
#include "source/secret_properties.h"
#include "tools/offsets_arguments.h"
#include "tools/offsets_command.h"
#include "tools/rebuild_windows_command.h"

#include <spdlog/spdlog.h>

#include <malloc.h>

#include <csignal>
#include <iostream>

extern char** environ;

namespace {

using namespace starstream::daemon;

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;
constexpr int kExitUnavailable = 3;

/// Applies pending SQL migrations, then the migrations generated from the pipeline specs, then
/// compares the database with the specs again; with `pin_time_zone`, also records (or checks)
/// the reporting time zone the facts are written in. Throws spec::SpecError on a conflict
/// (before any spec statement is written), PgError.
void migrate(const Config& config, bool pin_time_zone, const std::vector<spec::PipelineSpec>& specs) {
    postgres::PgConnection conn(pg_settings(config));
    auto applied = postgres::apply_migrations(conn, postgres::read_migrations(config.migrations_dir));
    spdlog::info("schema up to date ({} migration(s) applied)", applied.size());
    std::size_t statements = 0;
    for (const auto& m : postgres::apply_spec_migrations(conn, specs)) statements += m.statements.size();
    spdlog::info("pipeline specs' tables up to date ({} generated statement(s) applied)", statements);
    // Again, after the statements: what they could not make (none expected) is logged, a conflict thrown.
    spdlog::info("database compared with the pipeline specs: {}", postgres::compare_schema(conn, specs).describe());
    if (pin_time_zone) postgres::pin_reporting_time_zone(conn, config.enrichment.reporting_time_zone);
}

/// What /status shows of the configuration: no secrets (passwords, keys, tokens), DSN redacted.
nlohmann::json config_summary(const Config& config) {
    nlohmann::json kafka = nlohmann::json::object();
    for (const auto& [key, value] : config.kafka) kafka[key] = starstream::engine::is_secret_property(key) ? "(redacted)" : value;
    return {{"instance_id", config.instance_id}, {"postgres", redact_dsn(config.postgres_dsn)}, {"topics", config.topics}, {"kafka", kafka},
            {"batch", {{"trigger_interval_ms", config.trigger_interval.count()}, {"max_records", config.max_records}, {"max_bytes", config.max_bytes}}}};
}

/// Reads and validates every pipeline spec of pipelines.dir, each reading its configured topics
/// (pipeline::use_configured_topics); nullopt after printing the first mistake
/// (file:line:column: key: message) to stderr.
std::optional<std::vector<spec::PipelineSpec>> validated_pipelines(const Config& config) {
    try {
        std::vector<spec::PipelineSpec> specs = spec::read_pipeline_folder(config.pipelines_dir);
        pipeline::use_configured_topics(config, specs);
        return specs;
    } catch (const spec::SpecError& e) {
        std::cerr << "starstreamd: pipeline spec: " << e.what() << "\n";
        return std::nullopt;
    }
}

/// check-config's dry run: what `migrate` (and `run`) would apply to the database now.
void print_spec_migrations(const std::vector<std::string>& pending_sql, const std::vector<postgres::SpecMigration>& spec_migrations) {
    if (!pending_sql.empty()) {
        // The spec statements depend on what the SQL migrations create: computed after them.
        std::cout << "SQL migrations not applied yet: " << fmt::format("{}", fmt::join(pending_sql, ", "))
                  << "; the statements generated from the specs are decided after them (run `starstreamd migrate`)\n";
        return;
    }
    if (spec_migrations.empty()) {
        std::cout << "statements generated from the specs to apply: none\n";
        return;
    }
    std::cout << "statements generated from the specs to apply (dry run, nothing written):\n" << postgres::describe(spec_migrations);
}

/// check-config's comparison of the specs with the database, when it answers: 0, or 2 on a
/// conflict. An unreachable database is reported, not an error (the configuration may be right).
int check_database(const Config& config, const std::vector<spec::PipelineSpec>& specs) {
    if (config.postgres_dsn.empty()) {
        std::cout << "database not compared with the specs: postgres.dsn is not set\n";
        return 0;
    }
    std::unique_ptr<postgres::PgConnection> conn;
    try {
        conn = std::make_unique<postgres::PgConnection>(pg_settings(config));
    } catch (const postgres::PgError& e) {
        std::cout << "database not compared with the specs: " << redact_dsn(config.postgres_dsn) << " does not answer (" << e.what() << ")\n";
        return 0;
    }
    try {
        const auto pending = postgres::pending_migrations(*conn, postgres::read_migrations(config.migrations_dir));
        const postgres::SchemaDifference difference = postgres::compare_schema(*conn, specs);
        std::cout << "database compared with the specs: " << difference.describe() << "\n";
        print_spec_migrations(pending, postgres::spec_ddl(difference));
        return 0;
    } catch (const spec::SpecError& e) {
        std::cerr << "starstreamd: pipeline spec against the database: " << e.what() << "\n";
        return kExitConfig;
    } catch (const postgres::PgError& e) {
        std::cout << "database not compared with the specs: " << e.what() << "\n";
        return 0;
    } catch (const std::runtime_error& e) {  // read_migrations: postgres.migrations_dir
        std::cerr << "starstreamd: " << e.what() << "\n";
        return kExitConfig;
    }
}

std::string pipeline_names(const std::vector<spec::PipelineSpec>& specs) {
    std::string names;
    for (const auto& s : specs) names += (names.empty() ? "" : ", ") + s.name + " (" + s.file + ")";
    return names;
}

int run(const Config& config, const std::vector<spec::PipelineSpec>& specs) {
    SystemdNotifier systemd;
    PipelineState state(pipelines_to_run(config).size());
    metrics::PipelineProbe probe(config.instance_id);
    std::unique_ptr<http::HttpServer> server;
    if (config.http_enabled) {
        try {
            server = std::make_unique<http::HttpServer>(
                config.http_listen_address, config.http_port,
                http::StatusSource{state, probe, {config.liveness_timeout, config.max_lag_records, config.max_watermark_age}, config_summary(config)},
                config.http_read_timeout);
        } catch (const std::exception& e) {
            spdlog::critical("{}", e.what());
            return kExitConfig;
        }
        server->start();
    }
    // Before anything slow (migrations, connecting): a SIGTERM during start-up is a clean stop.
    std::signal(SIGTERM, [](int) { StreamService::request_stop(); });
    std::signal(SIGINT, [](int) { StreamService::request_stop(); });
    spdlog::info("starstreamd {} starting: postgres {}, topics {}, brokers {}", STARSTREAM_VERSION, redact_dsn(config.postgres_dsn),
                 fmt::join(config.topics, ","), config.kafka.at("bootstrap.servers"));
    try {
        migrate(config, true, specs);
    } catch (const postgres::PgError& e) {
        spdlog::critical("postgres.dsn ({}): {}", redact_dsn(config.postgres_dsn), e.what());
        return kExitUnavailable;
    } catch (const spec::SpecError& e) {
        spdlog::critical("pipeline spec against the database: {}", e.what());
        return kExitConfig;
    } catch (const ConfigError& e) {
        spdlog::critical("{}", e.what());
        return kExitConfig;
    }
    std::unique_ptr<StreamService> runner;
    try {
        runner = std::make_unique<StreamService>(config, specs, state, probe, systemd);
        if (!runner->wait_for_source()) {
            spdlog::info("stopped before consuming anything");
            runner.reset();
            if (server) server->stop();
            return 0;
        }
    } catch (const ConfigError& e) {
        spdlog::critical("{}", e.what());
        return kExitConfig;
    } catch (const starstream::engine::SourceConfigError& e) {
        spdlog::critical("configuration key 'kafka.{}': {}", e.key(), e.what());
        return kExitConfig;
    } catch (const postgres::PgError& e) {
        spdlog::critical("postgres.dsn ({}): {}", redact_dsn(config.postgres_dsn), e.what());
        return kExitUnavailable;
    } catch (const std::exception& e) {
        spdlog::critical("kafka.bootstrap.servers ({}): {}", config.kafka.at("bootstrap.servers"), e.what());
        return kExitUnavailable;
    }
    try {
        runner->run();
    } catch (const FatalStop& stop) {
        spdlog::critical("{}", stop.message);
        runner.reset();  // leaves the group first
        if (server) server->stop();
        return stop.exit_code;
    }
    runner.reset();
    if (server) server->stop();
    spdlog::info("starstreamd stopped cleanly");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Batches are filled on the poll thread and freed on the sink thread, and librdkafka's
    // broker threads allocate fetch buffers: with glibc's default of 8 arenas per core the
    // freed memory stays scattered over arenas. Two arenas cut peak RSS by about a quarter at
    // the same throughput (bench/results.md).
    mallopt(M_ARENA_MAX, 2);
    configure_logging("info", "text");
    Config config;
    tools::SplitCommandLine command_line;  // `offsets` takes its own arguments out first
    try {
        command_line = tools::split_offsets_arguments(argc, argv);
        const std::vector<const char*> rest = command_line.argv();
        config = load_config(static_cast<int>(rest.size()) - 1, rest.data(), environ);
    } catch (const ConfigError& e) {
        std::cerr << "starstreamd: " << e.what() << "\n";
        return kExitConfig;
    }
    if (config.command == "help") {
        std::cout << config_help() << "\n" << tools::offsets_usage() << "\n" << tools::rebuild_windows_usage();
        return 0;
    }
    if (config.command == "version") {
        std::cout << "starstreamd " << STARSTREAM_VERSION << "\n";
        return 0;
    }
    configure_logging(config.log_level, config.log_format);
    if (config.command == "offsets") {
        if (!command_line.offsets) {  // --command=offsets: the action was not where it is looked for
            std::cerr << "starstreamd: write the command as `starstreamd offsets show|reset ...`\n";
            return kExitConfig;
        }
        return tools::run_offsets(config, *command_line.offsets, std::cout, std::cerr);
    }
    if (config.command == "healthcheck") {
        const int status = http::probe_readyz(config.http_listen_address, config.http_port, std::chrono::seconds(3));
        std::cout << "GET /readyz on " << config.http_listen_address << ":" << config.http_port << ": "
                  << (status < 0 ? "no answer" : std::to_string(status)) << "\n";
        return status == 200 ? 0 : 1;
    }
    if (config.command == "check-config") {
        const auto pipelines = validated_pipelines(config);
        if (!pipelines) return kExitConfig;
        std::cout << "pipeline specs OK: " << pipeline_names(*pipelines) << "\n";
        if (const std::string problem = run_problem(config, *pipelines); !problem.empty()) {
            std::cerr << "starstreamd: " << problem << "\n";
            return kExitConfig;
        }
        try {
            const enrichment::Enrichment opened(config.enrichment);  // reference files and time zone
        } catch (const ConfigError& e) {
            std::cerr << "starstreamd: " << e.what() << "\n";
            return kExitConfig;
        }
        std::cout << "configuration OK\n";
        return check_database(config, *pipelines);
    }
    try {
        if (config.command == "migrate") {
            const auto pipelines = validated_pipelines(config);
            if (!pipelines) return kExitConfig;
            migrate(config, false, *pipelines);
            return 0;
        }
        if (config.command == "rebuild-windows") {
            const auto pipelines = validated_pipelines(config);
            if (!pipelines) return kExitConfig;
            for (const auto& spec : *pipelines)
                if (const std::string problem = pipeline::ignored_keys_problem(config, spec); !problem.empty()) {
                    spdlog::critical("{}", problem);
                    return kExitConfig;
                }
            tools::rebuild_windows(config, pipeline::rebuild_visit_gap_us(config, *pipelines), std::cout);
            return 0;
        }
        // A bad spec stops the daemon before it connects or consumes; so does a pipelines.run
        // that names no spec, or one a spec pipeline cannot run yet.
        const auto pipelines = validated_pipelines(config);
        if (!pipelines) return kExitConfig;
        if (const std::string problem = run_problem(config, *pipelines); !problem.empty()) {
            spdlog::critical("{}", problem);
            return kExitConfig;
        }
        spdlog::info("pipeline specs validated: {}", pipeline_names(*pipelines));
        return run(config, *pipelines);
    } catch (const postgres::PgError& e) {
        spdlog::critical("postgres ({}): {}", redact_dsn(config.postgres_dsn), e.what());
        return config.command == "migrate" || config.command == "rebuild-windows" ? kExitUnavailable : kExitRuntime;
    } catch (const spec::SpecError& e) {  // migrate: a spec conflicts with the database
        spdlog::critical("pipeline spec against the database: {}", e.what());
        return kExitConfig;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return kExitRuntime;
    }
}
