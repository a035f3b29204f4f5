#include "sink/postgres/held_keys.h"

namespace starstream::daemon::postgres {

std::string held_key_probe(const std::string& table, const std::vector<std::pair<std::string, std::string>>& key, const std::string& alias) {
    std::string match;
    for (const auto& [column, expression] : key) match += (match.empty() ? "" : " AND ") + ("f." + column) + " = " + expression;
    return "LATERAL (SELECT true AS held FROM " + table + " f WHERE " + match + " LIMIT 1) AS " + alias;
}

}  // namespace starstream::daemon::postgres
