#include "sink/postgres/dimension_merge.h"

#include "sink/postgres/bisection.h"

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

std::string scd0_insert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key) {
    return insert_from_stage(table, columns, selects, stage_table, natural_key) + "NOTHING\nRETURNING xmax = 0";
}

std::string derived_upsert(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                        const std::string& stage_table, const std::string& natural_key, const std::vector<std::string>& attributes) {
    if (attributes.empty()) return scd0_insert(table, columns, selects, stage_table, natural_key);
    const std::string sql = insert_from_stage(table, columns, selects, stage_table, natural_key);
    return sql + "UPDATE SET (" + joined(attributes) + ") = ROW(" + joined(attributes, "excluded.") + ")\nWHERE (" + joined(attributes, "t.") +
           ") IS DISTINCT FROM (" + joined(attributes, "excluded.") + ")\nRETURNING xmax = 0";
}

namespace {

/// An observation's order terms: its time, then per attribute (present, text bytewise), each
/// followed by `suffix` (" DESC" in an ORDER BY). The pairs keep NULL out of a row comparison.
std::vector<std::string> observation_terms(const std::string& time, const std::vector<std::string>& attributes, const std::string& suffix) {
    std::vector<std::string> out = {time + suffix};
    for (const auto& a : attributes) {
        out.push_back("(" + a + ") IS NOT NULL" + suffix);
        out.push_back("coalesce((" + a + ")::text, '') COLLATE \"C\"" + suffix);
    }
    return out;
}

std::vector<std::string> prefixed(const std::string& prefix, const std::vector<std::string>& items) {
    std::vector<std::string> out;
    for (const auto& item : items) out.push_back(prefix + item);
    return out;
}

}  // namespace

std::string scd1_by_event_time_merge(const std::string& table, const std::vector<std::string>& columns, const std::vector<std::string>& selects,
                                     const std::string& stage_table, const std::string& natural_key, const std::string& surrogate,
                                     const std::vector<std::string>& attributes, const std::string& time_column) {
    // The candidates' typed attributes, as the table will hold them (their text is compared).
    std::vector<std::string> typed;
    for (const auto& a : attributes)
        for (std::size_t i = 0; i < columns.size(); ++i)
            if (columns[i] == a) typed.push_back(selects[i]);
    const std::string latest = "(SELECT DISTINCT ON (" + surrogate + ") " + joined(selects) + ", " + time_column + " FROM " + stage_table +
                               "\n      ORDER BY " + surrogate + ", " + joined(observation_terms(time_column, typed, " DESC")) + ") AS latest";
    std::vector<std::string> all = columns, taken = attributes;
    all.push_back(time_column), taken.push_back(time_column);
    return insert_from_stage(table, all, all, latest, natural_key) + "UPDATE SET (" + joined(taken) + ") = ROW(" + joined(taken, "excluded.") +
           ")\nWHERE t." + time_column + " IS NULL\n   OR (" + joined(observation_terms("excluded." + time_column, prefixed("excluded.", attributes), "")) +
           ")\n    > (" + joined(observation_terms("t." + time_column, prefixed("t.", attributes), "")) + ")\nRETURNING xmax = 0";
}

PgResult run_member_merge(PgConnection& conn, const std::string& merge_sql) {
    for (int attempt = 1;; ++attempt) {
        try {
            return conn.exec("SAVEPOINT member_merge; " + merge_sql);
        } catch (const PgError& e) {
            if (!unique_violation(e) || attempt == kMemberMergeAttempts) throw;
            conn.exec("ROLLBACK TO SAVEPOINT member_merge");
        }
    }
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
