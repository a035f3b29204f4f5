#include "sink/postgres/scd2_merge.h"

#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/scd2_merge_sql.h"

#include <cstdlib>
#include <set>
#include <stdexcept>

namespace starstream::daemon::postgres {

namespace {

/// Column names the merge's own tables use next to the descriptor's.
void check_names(const Scd2Dimension& d) {
    if (d.natural_key.empty()) throw std::invalid_argument("scd2 dimension " + d.table + ": no natural key column");
    if (d.attributes.empty()) throw std::invalid_argument("scd2 dimension " + d.table + ": no attribute column");
    std::set<std::string> seen = {d.surrogate_key, "valid_from", "valid_to", "is_current", "observed_at"};
    for (const auto* columns : {&d.natural_key, &d.attributes})
        for (const auto& c : *columns)
            if (c.name.rfind("scd2_", 0) == 0 || !seen.insert(c.name).second)
                throw std::invalid_argument("scd2 dimension " + d.table + ": column name " + c.name + " is taken");
}

}  // namespace

Scd2Merge::Scd2Merge(Scd2Dimension dimension) : dimension_(std::move(dimension)) {
    check_names(dimension_);
    Scd2Sql sql = build_scd2_sql(dimension_);
    prepare_sql_ = std::move(sql.prepare);
    copy_sql_ = std::move(sql.copy);
    merge_sql_ = std::move(sql.merge);
}

std::string Scd2Merge::stage(const std::vector<Scd2Event>& events) const {
    const std::size_t keys = dimension_.natural_key.size(), attributes = dimension_.attributes.size();
    BinaryCopyWriter copy;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Scd2Event& e = events[i];
        if (e.key.size() != keys || (e.attributes && e.attributes->size() != attributes))
            throw std::invalid_argument("scd2 merge of " + dimension_.table + ": event " + std::to_string(i) + " has the wrong number of values");
        copy.begin_row(static_cast<std::int16_t>(keys + attributes + 3));
        copy.int4(static_cast<std::int32_t>(i));
        for (const auto& v : e.key) copy.text(v);
        copy.boolean(e.attributes.has_value());
        for (std::size_t a = 0; a < attributes; ++a) e.attributes ? copy.text((*e.attributes)[a]) : copy.null();
        copy.timestamptz_us(e.time_us);
    }
    return std::string(copy.finish());
}

std::vector<std::int64_t> Scd2Merge::merge(PgConnection& conn, const std::vector<Scd2Event>& events) const {
    if (events.empty()) return {};
    const std::string data = stage(events);
    conn.exec(prepare_sql_);
    conn.copy_in(copy_sql_, data);
    const PgResult keys = conn.exec(merge_sql_);
    const int rows = PQntuples(keys.get());
    // Every event's key has a version from -infinity on (the inferred member at worst), so
    // every event finds one; anything else means the tiling is broken.
    if (rows != static_cast<int>(events.size()))
        throw std::logic_error("scd2 merge of " + dimension_.table + ": " + std::to_string(rows) + " keys for " + std::to_string(events.size()) + " events");
    std::vector<std::int64_t> out(events.size());
    for (int r = 0; r < rows; ++r) out[static_cast<std::size_t>(std::atoi(PQgetvalue(keys.get(), r, 0)))] = std::atoll(PQgetvalue(keys.get(), r, 1));
    return out;
}

}  // namespace starstream::daemon::postgres
