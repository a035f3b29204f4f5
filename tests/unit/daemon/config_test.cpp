#include "config/config.h"
#include "source/secret_properties.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

using starstream::daemon::Config;
using starstream::daemon::ConfigError;
using starstream::daemon::config_keys;
using starstream::daemon::load_config;

namespace {

Config load(std::vector<std::string> args, std::vector<std::string> env = {}) {
    std::vector<const char*> argv{"starstreamd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    std::vector<const char*> envp;
    for (const auto& e : env) envp.push_back(e.c_str());
    envp.push_back(nullptr);
    return load_config(static_cast<int>(argv.size()), argv.data(), envp.data());
}

std::string error_key(std::vector<std::string> args, std::vector<std::string> env = {}) {
    try {
        load(std::move(args), std::move(env));
    } catch (const ConfigError& e) {
        return e.key();
    }
    return "(no error)";
}

const std::vector<std::string> kRequired{"--postgres.dsn=dbname=x", "--kafka.bootstrap.servers=localhost:9092"};

std::vector<std::string> with_required(std::vector<std::string> args) {
    args.insert(args.end(), kRequired.begin(), kRequired.end());
    return args;
}

}  // namespace

TEST(Config, DefaultsAndKafkaPassThrough) {
    Config c = load(with_required({"--kafka.security.protocol=SASL_SSL"}));
    EXPECT_EQ(c.command, "run");
    EXPECT_EQ(c.max_records, 25000u);
    EXPECT_EQ(c.trigger_interval.count(), 1000);
    EXPECT_EQ(c.topics, std::vector<std::string>{"product_view"});
    EXPECT_EQ(c.kafka.at("security.protocol"), "SASL_SSL");
    EXPECT_EQ(c.kafka.at("bootstrap.servers"), "localhost:9092");
}

TEST(Config, FlagsOverrideEnvironmentWhichOverridesTheFile) {
    const std::string path = testing::TempDir() + "/precedence.conf";
    std::ofstream(path) << "[batch]\nmax_records = 10\nmax_bytes = 100\ntrigger_interval_ms = 7\n[kafka]\nclient.id = file\n";
    Config c = load(with_required({"--config", path, "--batch.max_records=30"}),
                    {"STARSTREAM_BATCH__MAX_RECORDS=20", "STARSTREAM_BATCH__MAX_BYTES=200", "STARSTREAM_KAFKA__CLIENT_ID=env"});
    EXPECT_EQ(c.max_records, 30u);
    EXPECT_EQ(c.max_bytes, 200u);
    EXPECT_EQ(c.trigger_interval.count(), 7);
    EXPECT_EQ(c.kafka.at("client.id"), "env");
}

TEST(Config, ErrorsNameTheKey) {
    EXPECT_EQ(error_key(with_required({"--batch.max_recordz=1"})), "batch.max_recordz");
    EXPECT_EQ(error_key(with_required({"--batch.max_records=many"})), "batch.max_records");
    EXPECT_EQ(error_key(with_required({"--batch.max_records=0"})), "batch.max_records");
    EXPECT_EQ(error_key(with_required({"--source.starting_offsets=middle"})), "source.starting_offsets");
    EXPECT_EQ(error_key(with_required({"--source.topics= , "})), "source.topics");
    EXPECT_EQ(error_key(with_required({"--log.level=loud"})), "log.level");
    EXPECT_EQ(error_key({"--kafka.bootstrap.servers=x"}), "postgres.dsn");
    EXPECT_EQ(error_key({"--postgres.dsn=dbname=x"}), "kafka.bootstrap.servers");
    EXPECT_EQ(error_key({"--postgres.dsn=host", "--kafka.bootstrap.servers=x"}), "postgres.dsn");
    EXPECT_EQ(error_key(kRequired, {"STARSTREAM_SINK__SPEED=1"}), "sink.speed");
    EXPECT_EQ(error_key(with_required({"--config", "/nonexistent/starstreamd.conf"})), "config");
    EXPECT_EQ(error_key(with_required({"--postgres.max_rejected_records=-1"})), "postgres.max_rejected_records");
}

TEST(Config, MaxRejectedRecords) {
    EXPECT_EQ(load(kRequired).postgres_max_rejected_records, 100u);
    EXPECT_EQ(load(with_required({"--postgres.max_rejected_records=0"})).postgres_max_rejected_records, 0u);  // the first one stops
}

TEST(Config, WatermarkAlignmentDrift) {
    EXPECT_EQ(load(kRequired).watermark_alignment_drift.count(), 1800000);  // 30 minutes
    EXPECT_EQ(load(with_required({"--time.watermark_alignment_drift_ms=0"})).watermark_alignment_drift.count(), 0);  // off
    EXPECT_EQ(error_key(with_required({"--time.watermark_alignment_drift_ms=-1"})), "time.watermark_alignment_drift_ms");
    EXPECT_EQ(error_key(with_required({"--time.watermark_alignment_drift_ms=9223372036854775807"})), "time.watermark_alignment_drift_ms");
    try {
        load(with_required({"--time.watermark_alignment_drift_ms=-1"}));
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("time.watermark_alignment_drift_ms"), std::string::npos) << e.what();
    }
}

TEST(Config, RedactDsnDropsThePassword) {
    const std::string redacted = starstream::daemon::redact_dsn("host=db port=5432 dbname=s user=u password=hunter2");
    EXPECT_EQ(redacted.find("hunter2"), std::string::npos);
    EXPECT_NE(redacted.find("host=db"), std::string::npos);
    EXPECT_EQ(starstream::daemon::redact_dsn("postgresql://u:hunter2@db/s").find("hunter2"), std::string::npos);
}

// The example file documents exactly the keys the daemon reads, and it loads as it is.
TEST(Config, ExampleFileDocumentsEveryKey) {
    const std::string path = std::string(STARSTREAM_SOURCE_DIR) + "/config/starstreamd.conf.example";
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::set<std::string> documented;
    std::string line, section;
    static const std::regex section_re(R"(^\[(\w+)\]\s*$)"), key_re(R"(^#?\s?([a-z0-9_.]+) = .*$)");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, section_re)) {
            section = m[1];
        } else if (std::regex_match(line, m, key_re) && section != "kafka") {
            documented.insert(section + "." + std::string(m[1]));
        }
    }
    std::vector<std::string> keys = config_keys();
    EXPECT_EQ(documented, std::set<std::string>(keys.begin(), keys.end()));
    EXPECT_NO_THROW(load({"--config", path}));
}

TEST(Config, SecretsFromFilesAndSystemdCredentials) {
    const std::string dir = testing::TempDir();
    std::ofstream(dir + "/pg_secret") << "s3cret\n";
    std::ofstream(dir + "/sasl_secret") << "kafka-s3cret";
    setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
    Config c = load(with_required({"--postgres.password_file=pg_secret", "--kafka.sasl.password_file=" + dir + "/sasl_secret"}));
    unsetenv("CREDENTIALS_DIRECTORY");
    EXPECT_EQ(c.postgres_password, "s3cret");
    EXPECT_EQ(c.kafka.at("sasl.password"), "kafka-s3cret");
    EXPECT_EQ(c.kafka.count("sasl.password_file"), 0u);
    EXPECT_EQ(error_key(with_required({"--postgres.password_file=/nonexistent/secret"})), "postgres.password_file");
    EXPECT_EQ(error_key(with_required({"--kafka.sasl.password_file=/nonexistent/secret"})), "kafka.sasl.password_file");
}

TEST(SecretRedactor, RemovesEverySecretValueFromText) {
    EXPECT_TRUE(starstream::engine::is_secret_property("sasl.password"));
    EXPECT_TRUE(starstream::engine::is_secret_property("ssl.key.pem"));
    EXPECT_FALSE(starstream::engine::is_secret_property("bootstrap.servers"));
    const starstream::engine::SecretRedactor redactor(
        {{"sasl.password", "hunter2"}, {"ssl.key.password", "hunter2-longer"}, {"sasl.username", "alice"}, {"sasl.oauthbearer.client.secret", ""}});
    EXPECT_EQ(redactor.redact("sasl.password = hunter2, ssl.key.password = hunter2-longer; hunter2hunter2"),
              "sasl.password = (redacted), ssl.key.password = (redacted); (redacted)(redacted)");
    EXPECT_EQ(redactor.redact("sasl.username = alice"), "sasl.username = alice");  // not a secret
    EXPECT_EQ(starstream::engine::SecretRedactor().redact("nothing to hide"), "nothing to hide");
}

TEST(Config, DockerStyleSecretFilesFromTheEnvironment) {
    const std::string path = testing::TempDir() + "/docker_secret";
    std::ofstream(path) << "from-docker\n";
    Config c = load(kRequired, {"STARSTREAM_KAFKA__SASL_PASSWORD_FILE=" + path, "STARSTREAM_POSTGRES__PASSWORD_FILE=" + path});
    EXPECT_EQ(c.kafka.at("sasl.password"), "from-docker");
    EXPECT_EQ(c.postgres_password, "from-docker");
}

TEST(Config, CompiledWindowKeysOtherThanTheirDefaultsAreListedFromEverySource) {
    // Spelled out at their defaults (as an older example configuration did): nothing to refuse.
    const std::string path = testing::TempDir() + "/window_keys.conf";
    std::ofstream(path) << "[windows]\nvisit_gap_ms = 1800000\nhourly_product_views_late_policy = correct\nallowed_lateness_ms = 3600000\n";
    EXPECT_TRUE(load(with_required({"--config", path})).compiled_window_keys.empty());
    EXPECT_EQ(load(with_required({})).pipelines_compiled, "none");

    std::ofstream(path) << "[windows]\ntrending_products_late_policy = drop\n";
    const Config c = load(with_required({"--config", path, "--windows.visit_gap_ms=600000"}), {"STARSTREAM_WINDOWS__ALLOWED_LATENESS_MS=1"});
    EXPECT_EQ(std::set<std::string>(c.compiled_window_keys.begin(), c.compiled_window_keys.end()),
              (std::set<std::string>{"windows.visit_gap_ms", "windows.allowed_lateness_ms", "windows.trending_products_late_policy"}));
}
