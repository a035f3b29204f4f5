#include "sink/postgres/stage_fold.h"

namespace starstream::daemon::postgres {

bool stage_keys_hold(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                     const std::vector<std::size_t>& dimensions) {
    for (const std::size_t d : dimensions)
        for (std::size_t r = begin; r < end; ++r)
            if (batch.rows[r].member_keys.size() <= d || batch.rows[r].member_keys[d] != keys[d][r - begin]) return false;
    return true;
}

}  // namespace starstream::daemon::postgres
