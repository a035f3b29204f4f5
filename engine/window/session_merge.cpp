#include "window/session_merge.h"

#include <algorithm>

namespace starstream::engine {

std::vector<Session> merge_sessions(std::vector<Session> sessions, std::int64_t gap_us) {
    std::sort(sessions.begin(), sessions.end(), [](const Session& a, const Session& b) { return a.first_us < b.first_us; });
    std::vector<Session> merged;
    for (Session& s : sessions) {
        // Sorted by start, s intersects the previous span iff it starts before that span's end.
        if (!merged.empty() && s.first_us < merged.back().last_us + gap_us) {
            Session& into = merged.back();
            into.last_us = std::max(into.last_us, s.last_us);
            into.aggregates.merge(s.aggregates);
            continue;
        }
        merged.push_back(std::move(s));
    }
    return merged;
}

}  // namespace starstream::engine
