#include "pipeline/surrogate_key.h"

#include <xxhash.h>

namespace starstream::daemon {

std::int64_t surrogate_key(std::string_view natural_key) {
    return static_cast<std::int64_t>(XXH3_64bits(natural_key.data(), natural_key.size()));
}

}  // namespace starstream::daemon
