#include "sink/postgres/temp_table_name.h"

#include <fmt/format.h>

#include <functional>

namespace starstream::daemon::postgres {

std::string temp_table_name(std::string_view prefix, std::string_view table, std::string_view role) {
    std::string name = fmt::format("{}{}{}{}", prefix, table, role.empty() ? "" : "$", role);
    if (name.size() <= kMaxIdentifierBytes) return name;
    const std::size_t hash = std::hash<std::string>{}(name);
    return fmt::format("{}${:016x}", std::string_view(name).substr(0, kMaxIdentifierBytes - 17), hash);
}

}  // namespace starstream::daemon::postgres
