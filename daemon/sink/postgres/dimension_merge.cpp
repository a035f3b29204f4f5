#include "sink/postgres/dimension_merge.h"

#include <fmt/format.h>

namespace starstream::daemon::postgres {

namespace {

std::string joined(const std::vector<std::string>& items, const std::string& prefix = "") {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + prefix + item;
    return out;
}

}  // namespace

std::string insert_from_stage(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                              const std::string& stage_table, const std::string& natural_key) {
    return "INSERT INTO " + table + " AS t (" + joined(columns) + ")\nSELECT " + joined(selects) + " FROM " + stage_table + " ORDER BY " +
           natural_key + "\nON CONFLICT (" + natural_key + ") DO ";
}

std::string scd1_upsert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key, const std::vector<std::string>& attributes) {
    const std::string sql = insert_from_stage(table, columns, selects, stage_table, natural_key);
    if (attributes.empty()) return sql + "NOTHING\nRETURNING xmax = 0";
    return sql + "UPDATE SET (" + joined(attributes) + ") = ROW(" + joined(attributes, "excluded.") + ")\nWHERE (" + joined(attributes, "t.") +
           ") IS DISTINCT FROM (" + joined(attributes, "excluded.") + ")\nRETURNING xmax = 0";
}

std::string date_dimension_insert(const std::string& stage_table) {
    return fmt::format(R"SQL(
INSERT INTO dim_date (date_key, date, iso_year, iso_week, weekday, weekday_name, is_weekend, month, month_name, quarter, year)
SELECT date_key, d, extract(isoyear FROM d), extract(week FROM d), extract(isodow FROM d), trim(to_char(d, 'Day')),
       extract(isodow FROM d) >= 6, extract(month FROM d), trim(to_char(d, 'Month')), extract(quarter FROM d), extract(year FROM d)
FROM (SELECT DISTINCT date_key, to_date(date_key::text, 'YYYYMMDD') AS d FROM {}) s
ORDER BY date_key
ON CONFLICT (date_key) DO NOTHING
RETURNING xmax = 0)SQL",
                       stage_table);
}

}  // namespace starstream::daemon::postgres
