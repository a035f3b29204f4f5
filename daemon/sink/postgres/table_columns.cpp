#include "sink/postgres/table_columns.h"

namespace starstream::daemon::postgres {

std::map<std::string, DatabaseColumn> database_columns(PgConnection& conn, const std::string& table) {
    PgResult types = conn.exec_params(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod),\n"
        "       coalesce((SELECT format(' COLLATE %I.%I', n.nspname, l.collname) FROM pg_collation l JOIN pg_namespace n ON n.oid = l.collnamespace"
        " WHERE l.oid = a.attcollation), ''),\n"
        "       coalesce((SELECT l.collisdeterministic FROM pg_collation l WHERE l.oid = a.attcollation), true)"
        " AND current_setting('server_encoding') = current_setting('client_encoding')\n"
        "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
        {table});
    std::map<std::string, DatabaseColumn> out;
    for (int i = 0; i < PQntuples(types.get()); ++i)
        out[PQgetvalue(types.get(), i, 0)] = {PQgetvalue(types.get(), i, 1), PQgetvalue(types.get(), i, 2), PQgetvalue(types.get(), i, 3)[0] == 't'};
    return out;
}

bool column_is(const std::map<std::string, DatabaseColumn>& columns, const std::string& name, const std::string& type) {
    const auto c = columns.find(name);
    return c != columns.end() && c->second.type == type && (type != "text" || c->second.bytewise);
}

}  // namespace starstream::daemon::postgres
