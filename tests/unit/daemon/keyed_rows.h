// A query's rows as text keyed by their first cells: what the C++ tests that compare a table
// with a brute force read back.
// Thread rules: the caller's connection.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <map>
#include <string>
#include <vector>

namespace starstream::test {

/// Rows of `sql` as {the first `keys` cells: the rest}, each cell as PostgreSQL's text, NULL as
/// "". Throws daemon::postgres::PgError.
inline std::map<std::vector<std::string>, std::vector<std::string>> keyed_rows(daemon::postgres::PgConnection& conn, const std::string& sql, int keys) {
    daemon::postgres::PgResult r = conn.exec(sql);
    std::map<std::vector<std::string>, std::vector<std::string>> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        std::vector<std::string> key, row;
        for (int c = 0; c < PQnfields(r.get()); ++c) (c < keys ? key : row).push_back(PQgetvalue(r.get(), i, c));
        out[key] = row;
    }
    return out;
}

}  // namespace starstream::test
