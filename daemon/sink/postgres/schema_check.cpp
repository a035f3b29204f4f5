#include "sink/postgres/schema_check.h"

#include "sink/postgres/progress_store.h"
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <map>

namespace starstream::daemon::postgres {

SchemaDifference compare_schema(PgConnection& conn, const std::vector<spec::PipelineSpec>& specs) {
    std::vector<std::string> names;
    for (const auto& s : specs)
        for (const auto& t : s.tables()) names.push_back(t);
    PgResult rows = conn.exec_params(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
        {text_array(names)});
    std::map<std::string, std::map<std::string, std::string>> database;  // table -> column -> type
    for (int i = 0; i < PQntuples(rows.get()); ++i) database[PQgetvalue(rows.get(), i, 0)][PQgetvalue(rows.get(), i, 1)] = PQgetvalue(rows.get(), i, 2);

    SchemaDifference out;
    for (const auto& s : specs)
        for (const auto& table : spec::table_schemas(s)) {
            const auto found = database.find(table.table);
            if (found == database.end()) {
                out.missing_tables.push_back(table.table + " (" + s.file + ", " + std::to_string(table.columns.size()) + " columns)");
                continue;
            }
            for (const auto& column : table.columns) {
                const auto type = found->second.find(column.name);
                if (type == found->second.end()) {
                    out.missing_columns.push_back(table.table + "." + column.name + " " + column.type + " (" + s.file + ")");
                } else if (!spec::holds(type->second, column.type)) {
                    throw spec::SpecError(s.file, table.line, 1, table.key,
                                          "column " + column.name + ": the spec makes it " + column.type + ", the database's " + table.table + "." +
                                              column.name + " is " + type->second + " (change one of them; nothing was written)");
                }
            }
        }
    return out;
}

}  // namespace starstream::daemon::postgres
