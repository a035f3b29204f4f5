#include "sink/postgres/unique_keys.h"

#include "sink/postgres/progress_store.h"

#include <fmt/format.h>

#include <algorithm>

namespace starstream::daemon::postgres {

std::map<std::string, std::vector<UniqueKey>> read_unique_keys(PgConnection& conn, const std::vector<std::string>& tables) {
    // One row per (index, column). indkey[0 .. indnkeyatts-1] are the key columns (0 marks an
    // expression); an index on expressions depends (pg_depend) on each column they read.
    PgResult rows = conn.exec_params(R"SQL(
SELECT t.name, c.relname, i.indisprimary, a.attname
FROM unnest($1::text[]) AS t(name)
JOIN pg_index i ON i.indrelid = to_regclass(quote_ident(t.name))
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0 AND (
       a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1])
    OR (i.indexprs IS NOT NULL AND EXISTS (
          SELECT 1 FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
            AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid = a.attnum)))
WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL
ORDER BY t.name, i.indisprimary DESC, c.relname)SQL",
                                     {text_array(tables)});
    std::map<std::string, std::vector<UniqueKey>> out;
    for (int r = 0; r < PQntuples(rows.get()); ++r) {
        auto& keys = out[PQgetvalue(rows.get(), r, 0)];
        const std::string index = PQgetvalue(rows.get(), r, 1);
        if (keys.empty() || keys.back().index != index) keys.push_back({index, PQgetvalue(rows.get(), r, 2)[0] == 't', {}});
        keys.back().columns.insert(PQgetvalue(rows.get(), r, 3));
    }
    return out;
}

std::string conflict_target(PgConnection& conn, const std::string& table, const std::set<std::string>& columns) {
    auto keys = read_unique_keys(conn, {table})[table];
    std::stable_sort(keys.begin(), keys.end(), [](const UniqueKey& a, const UniqueKey& b) { return a.primary < b.primary; });
    for (const auto& key : keys) {
        if (key.columns != columns) continue;
        PgResult parts = conn.exec_params(R"SQL(
SELECT pg_get_indexdef(c.oid, k, true) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid, generate_series(1, i.indnkeyatts) AS k
WHERE c.oid = to_regclass(quote_ident($1)) ORDER BY k)SQL",
                                          {key.index});
        std::vector<std::string> out;
        for (int r = 0; r < PQntuples(parts.get()); ++r) out.push_back(PQgetvalue(parts.get(), r, 0));
        return fmt::format("{}", fmt::join(out, ", "));
    }
    return "";
}

std::string describe_columns(const std::set<std::string>& columns) { return fmt::format("({})", fmt::join(columns, ", ")); }

}  // namespace starstream::daemon::postgres
