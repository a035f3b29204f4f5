#include "sink/postgres/temp_table_name.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdint>

namespace starstream::daemon::postgres {

std::string temp_table_name(std::string_view prefix, std::string_view table, std::string_view role) {
    static std::atomic<std::uint64_t> next{1};
    std::string name = fmt::format("{}${}", prefix, next++);
    for (const std::string_view part : {table, role})
        if (!part.empty()) name.append("$").append(part);
    if (name.size() > kMaxIdentifierBytes) name.resize(kMaxIdentifierBytes);
    return name;
}

}  // namespace starstream::daemon::postgres
