// A throwaway PostgreSQL server for C++ tests that need a real database: tests/support/
// local_postgres.sh starts it in a temporary folder (initdb, a free loopback port, fsync off) on
// first use, and stops and deletes it when the test process exits. Tests create a database each.
// Thread rules: shared() and create_database() from the test's main thread.
// Errors: a server that does not start fails the calling test (std::runtime_error).
#pragma once

#include "sink/postgres/pg_connection.h"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace starstream::test {

class LocalPostgresServer {
public:
    /// The process's server, started on first call (about 2 s: initdb and start).
    static LocalPostgresServer& shared() {
        static LocalPostgresServer server;
        return server;
    }

    /// A new empty database (dropped first if a previous run left it); returns its DSN.
    std::string create_database(const std::string& name) {
        daemon::postgres::PgSettings settings;
        settings.dsn = base_dsn_;
        daemon::postgres::PgConnection admin(settings);
        admin.exec("DROP DATABASE IF EXISTS " + name);  // one statement each: not in a transaction block
        admin.exec("CREATE DATABASE " + name);
        return dsn_of(name);
    }

    ~LocalPostgresServer() {
        run(script() + " stop " + dir_ + "/pg >/dev/null 2>&1");
        run("rm -rf " + dir_);
    }

private:
    LocalPostgresServer() {
        char pattern[] = "/tmp/starstream-pg-XXXXXX";
        if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        chmod(dir_.c_str(), 0755);  // as root the server runs as the postgres user
        base_dsn_ = run(script() + " start " + dir_ + "/pg");
        while (!base_dsn_.empty() && base_dsn_.back() == '\n') base_dsn_.pop_back();
        if (base_dsn_.find("port=") == std::string::npos) throw std::runtime_error("local_postgres.sh did not start a server: " + base_dsn_);
    }

    static std::string script() { return std::string(STARSTREAM_SOURCE_DIR) + "/tests/support/local_postgres.sh"; }

    /// Runs a shell command; returns its standard output.
    static std::string run(const std::string& command) {
        std::string out;
        FILE* pipe = popen(command.c_str(), "r");
        if (!pipe) return out;
        std::array<char, 256> buffer{};
        while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe)) out += buffer.data();
        pclose(pipe);
        return out;
    }

    std::string dsn_of(const std::string& database) const {
        const auto at = base_dsn_.find("dbname=");
        const auto end = base_dsn_.find(' ', at);
        return base_dsn_.substr(0, at) + "dbname=" + database + (end == std::string::npos ? "" : base_dsn_.substr(end));
    }

    std::string dir_;
    std::string base_dsn_;
};

}  // namespace starstream::test
