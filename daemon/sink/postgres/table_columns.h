// A table's columns as the database has them: what a binary COPY must send for each, and
// whether equal text values of a column are equal bytes as the daemon sends them, which decides
// whether the daemon may compare them itself (spec_fact_writer.h's fact keys,
// spec_window_cells.h's members).
// Thread rules: the caller's connection's thread.
#pragma once

#include "sink/postgres/pg_connection.h"

#include <map>
#include <string>

namespace starstream::daemon::postgres {

struct DatabaseColumn {
    std::string type;       ///< format_type: "bigint", "text", "timestamp with time zone", "numeric(12,2)"...
    std::string collation;  ///< " COLLATE schema.name" for a collatable column, else ""
    /// Equal values are equal bytes as sent: a deterministic collation (or none), and the client
    /// encoding the server's (a conversion may map two characters to one).
    bool bytewise = false;
};

/// The columns of `table` (as written in SQL: an identifier, quoted when it needs to be) by
/// name; empty when no such table. Throws PgError.
std::map<std::string, DatabaseColumn> database_columns(PgConnection& conn, const std::string& table);

/// Whether `columns` (database_columns') has `name` of `type` (format_type's spelling) and, when
/// `type` is "text", bytewise: what a writer that compares or sends the values itself needs.
bool column_is(const std::map<std::string, DatabaseColumn>& columns, const std::string& name, const std::string& type);

}  // namespace starstream::daemon::postgres
