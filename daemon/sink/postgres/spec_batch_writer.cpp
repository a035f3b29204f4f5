#include "sink/postgres/spec_batch_writer.h"

#include "pipeline/surrogate_key.h"
#include "sink/postgres/bisection.h"
#include "sink/postgres/dimension_merge.h"
#include "sink/postgres/scd2_dimensions.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/spec_fact_writer.h"
#include "spec/value_text.h"
#include "sink/postgres/spec_window_writer.h"
#include "sink/postgres/temp_table_name.h"
#include "sink/postgres/unique_keys.h"
#include "sink/postgres/window_lock.h"
#include "spec/enricher_catalog.h"
#include "spec/table_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <unordered_map>

namespace starstream::daemon::postgres {

using spec::input_view;
using spec::input_text;

namespace {

using spec::FieldValue;
using spec::SpecBatch;
using spec::SpecRow;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// A column read from a staged text column, cast to its type.
std::string cast(const std::string& column, const std::string& type) { return sql_identifier(column) + "::" + type; }

}  // namespace

/// A projected column: where its value sits in a row and its PostgreSQL type.
struct Projected {
    std::string name;
    std::size_t index = 0;
    std::string type;
};

struct SpecBatchWriter::Dimension {
    std::string table, surrogate_key;
    bool key_is_surrogate = false;  ///< a single key column named like the surrogate key (dim_date's date_key)
    bool is_date = false;           ///< the conformed calendar dimension (date_dimension_insert)
    bool earliest = false;          ///< the earliest-attribute policy (earliest_attribute_merge)
    bool timed = false;             ///< SCD type 1 with attributes: candidates staged with their event time (scd1_by_event_time_merge)
    std::vector<Projected> key, attributes;
    std::string stage_table, merge_sql;
    /// For a key with a part of several spellings (numeric, inet, double): the query of the staged
    /// members whose table row holds another surrogate key, as (staged, stored) pairs; "" for
    /// other keys (use_stored_keys).
    std::string stored_keys_sql;
    std::optional<Scd2Merge> scd2;

    std::size_t index = 0;  ///< in the spec's dimensions (SpecRow::member_keys)
    const spec::MemberKeys* member_keys = nullptr;

    /// The surrogate key of `row`'s member (the stage's, else computed); nullopt when a part of
    /// its natural key is null.
    std::optional<std::int64_t> member_key(const SpecRow& row) const {
        if (row.member_keys.empty()) return member_keys->of(index, row.values);
        const std::int64_t stored = row.member_keys[index];
        return stored == spec::MemberKeys::kNone ? std::nullopt : std::optional<std::int64_t>(stored);
    }
};

namespace {

std::vector<Projected> project(const spec::ReferenceLayout& layout, const spec::PipelineSpec& spec, const std::vector<spec::Column>& columns) {
    std::vector<Projected> out;
    for (const auto& c : columns) out.push_back({c.name, layout.at(c.ref), spec::reference_type(spec, c.ref)});
    return out;
}

std::string text_columns(const std::vector<std::string>& columns) {
    std::vector<std::string> defs;
    for (const auto& c : columns) defs.push_back(sql_identifier(c) + " text");
    return fmt::format("{}", fmt::join(defs, ", "));
}

/// The ON CONFLICT target of `d`'s natural key: the table's unique index on it as the database
/// has it (the clickstream's dim_user_agent is unique on md5(user_agent)), else its columns.
std::string natural_key_target(PgConnection& conn, const spec::DimensionSpec& d) {
    std::set<std::string> columns;
    std::vector<std::string> natural;
    for (const auto& c : d.key) columns.insert(c.name), natural.push_back(sql_identifier(c.name));
    const std::string target = conflict_target(conn, d.table, columns);
    return target.empty() ? fmt::format("{}", fmt::join(natural, ", ")) : target;
}

/// The merge of an earliest-attribute dimension (pipeline_spec.h earliest_state_columns) from
/// its staging table (surrogate key, natural key and attributes as text, then the state columns
/// as timestamptz; several rows per member: the candidates for its attributes). Candidates are
/// ordered by their time (none last), then their attributes (text bytewise, NULL last): the
/// first wins, within the batch (DISTINCT ON) and against the stored row (the same order, in
/// the ON CONFLICT arm, which sees the row another instance committed meanwhile), so that any
/// arrival order, batch boundaries or instances give the same member; first_seen and last_seen
/// widen. Rows that would not change are not rewritten. `natural`: the conflict target.
std::string earliest_attribute_merge(const std::string& table, const std::string& stage_table, const std::string& surrogate,
                                     const std::vector<Projected>& key, const std::vector<Projected>& attributes,
                                     const std::vector<std::string>& state, const std::string& natural) {
    std::vector<std::string> columns = {sql_identifier(surrogate)}, selects = {sql_identifier(surrogate)};
    for (const auto& c : key) columns.push_back(sql_identifier(c.name)), selects.push_back(cast(c.name, c.type));
    for (const auto& c : attributes) columns.push_back(sql_identifier(c.name)), selects.push_back(cast(c.name, c.type));
    for (const auto& c : state) columns.push_back(sql_identifier(c)), selects.push_back(sql_identifier(c));
    // The candidates' order: their time (none last), then their attributes, text bytewise.
    std::vector<std::string> taken;  ///< the attributes and their time, taken together from the winner
    auto order = [&](const std::string& prefix) {
        std::vector<std::string> terms = {prefix + sql_identifier(state.front()) + " NULLS LAST"};
        for (const auto& c : attributes) terms.push_back(prefix + sql_identifier(c.name) + (c.type == "text" ? " COLLATE \"C\"" : "") + " NULLS LAST");
        return fmt::format("{}", fmt::join(terms, ", "));
    };
    std::string earlier = "false";
    if (!attributes.empty()) {
        taken.push_back(sql_identifier(state.front()));
        for (const auto& c : attributes) taken.push_back(sql_identifier(c.name));
        std::vector<std::string> stored, incoming;
        for (const auto& n : taken) stored.push_back("t." + n), incoming.push_back("excluded." + n);
        // The batch's candidate is earlier when it sorts first; a tie keeps the stored row.
        earlier = fmt::format("(SELECT o.s FROM (VALUES (0, {}), (1, {})) o (s, {}) ORDER BY {}, o.s LIMIT 1) = 1", fmt::join(stored, ", "),
                              fmt::join(incoming, ", "), fmt::join(taken, ", "), order("o."));
    }
    std::string sql = fmt::format("INSERT INTO {} AS t ({})\nSELECT DISTINCT ON ({}) {} FROM {}\nORDER BY {}{}\nON CONFLICT ({}) DO UPDATE SET\n",
                                  sql_identifier(table), fmt::join(columns, ", "), sql_identifier(surrogate), fmt::join(selects, ", "), stage_table,
                                  sql_identifier(surrogate), attributes.empty() ? "" : ", " + order(""), natural);
    for (const auto& c : taken) sql += fmt::format("    {0} = CASE WHEN {1} THEN excluded.{0} ELSE t.{0} END,\n", c, earlier);
    sql += "    first_seen = least(t.first_seen, excluded.first_seen),\n"
           "    last_seen = greatest(t.last_seen, excluded.last_seen)\n"
           "WHERE " + earlier + " OR excluded.first_seen < t.first_seen OR excluded.last_seen > t.last_seen\n"
           "RETURNING xmax = 0";
    return sql;
}

/// Whether every record has a value for `ref`: a required field, an enricher output the catalog
/// says always has one, or a calendar output of a required event time.
bool always_has_value(const spec::PipelineSpec& spec, const std::string& ref) {
    if (const spec::FieldSpec* f = spec.field(ref)) return f->required;
    const auto dot = ref.find('.');
    if (dot == std::string::npos) return false;
    for (const auto& e : spec.enrichers) {
        if (e.name != ref.substr(0, dot)) continue;
        const spec::EnricherFunction* function = spec::find_enricher(e.function);
        const spec::EnricherOutput* output = function ? spec::find_output(*function, ref.substr(dot + 1)) : nullptr;
        if (!output) return false;
        if (output->always) return true;
        return function->time_input && std::all_of(e.inputs.begin(), e.inputs.end(), [&](const std::string& in) { return always_has_value(spec, in); });
    }
    return false;
}

}  // namespace

std::string runnable_problem(const spec::PipelineSpec& spec) {
    for (const auto& d : spec.dimensions) {
        for (const auto& k : d.key)
            if (spec::reference_type(spec, k.ref) == "jsonb")
                return "dimension " + d.table + ": its key " + k.name + " is jsonb, which one value can be written many ways (key order, " +
                       "number forms) and so no key of one member; key it by a field taken out of the document";
        if (d.key.size() == 1 && d.key[0].name == spec::surrogate_key_column(d.table)) {
            const std::string type = spec::reference_type(spec, d.key[0].ref);
            if (type != "integer" && type != "bigint" && type != "smallint")
                return "dimension " + d.table + ": its key column " + d.key[0].name + " is named like its surrogate key, so it must be an integer (it is " +
                       type + "); name it otherwise and a key is computed from it";
        }
        // With one attribute, an event without it says nothing about the value: a reference, which
        // observes nothing and takes the version in force at its time (scd2_merge.h). With several,
        // an event carrying only some would lose what it says about those: refused.
        if (d.policy == spec::DimensionPolicy::scd2 && d.attributes.size() > 1)
            for (const auto& a : d.attributes) {
                const spec::FieldSpec* f = spec.field(a.ref);
                if (!f || !f->required)
                    return "dimension " + d.table + ": SCD type 2 attribute " + a.name + " must be a required field (an event without it would not say whether the value changed)";
            }
    }
    if (!spec.windows.empty() && (spec.facts.empty() || !spec.facts.front().grain.empty()))
        return "windows: a spec with windows needs an event-grain fact first (facts: {...: {grain: event}}): it tells which records are new, so "
               "that a resent or replayed event counts once";
    for (const auto& w : spec.windows) {
        if (std::string problem = SpecWindowWriter::unsupported(w); !problem.empty()) return problem;
        // A record without a group or session key would be in no window: the key must be a
        // required field, or the table's filter must ask for it (`{present: true}`), so that
        // leaving such records out is the spec's choice, not a silent drop.
        auto unguarded = [&](const std::string& ref) { return !always_has_value(spec, ref) && !w.where.count(ref); };
        const std::string ask = ": a record without it would be in no window (make it required, or filter with where: {";
        if (!w.session_key.empty() && unguarded(w.session_key))
            return "windows." + w.table + ".session.key: " + w.session_key + " is not a required field" + ask + w.session_key + ": {present: true}})";
        for (std::size_t i = 0; i < w.group_by.size(); ++i) {
            const std::string& g = w.group_by[i];
            const std::string key = "windows." + w.table + ".group_by[" + std::to_string(i) + "]";
            if (const spec::DimensionSpec* d = spec.dimension(g)) {
                if (d->policy == spec::DimensionPolicy::scd2)
                    return key + ": " + g + " is an SCD type 2 dimension, whose version keys a later late event may merge or split; group by its natural key instead";
                for (const auto& k : d->key)
                    if (unguarded(k.ref)) return key + ": " + g + "'s key " + k.ref + " is not a required field" + ask + k.ref + ": {present: true}})";
            } else if (unguarded(g)) {
                return key + ": " + g + " is not a required field" + ask + g + ": {present: true}})";
            }
        }
    }
    return {};
}

SpecBatchWriter::SpecBatchWriter(const PgSettings& settings, const spec::PipelineSpec& spec, const std::vector<spec::PipelineSpec>& specs,
                                 std::string instance_id, const std::atomic<bool>* abort_flag)
    : conn_(std::make_unique<PgConnection>(settings, abort_flag)), layout_(spec), member_keys_(spec, layout_) {
    conn_->exec("SET synchronous_commit = on; SET TIME ZONE 'UTC';");
    ledger_ = std::make_unique<BatchLedger>(*conn_, copy_, std::move(instance_id));
    const auto scd2 = scd2_dimensions(specs);
    for (const auto& d : spec.dimensions) dimensions_.push_back(make_dimension(spec, d, scd2));
    std::vector<std::string> dimension_tables;
    for (const auto& d : dimensions_) dimension_tables.push_back(d->table);
    for (const auto& f : spec.facts) facts_.push_back(std::make_unique<SpecFactWriter>(*conn_, copy_, spec, layout_, f, dimension_tables));
    windows_ = std::make_unique<SpecWindowWriter>(*conn_, copy_, spec, layout_, dimension_tables);
}

std::unique_ptr<SpecBatchWriter::Dimension> SpecBatchWriter::make_dimension(const spec::PipelineSpec& spec, const spec::DimensionSpec& d,
                                                                           const std::vector<Scd2Dimension>& scd2) {
    auto dim = std::make_unique<Dimension>();
    dim->index = dimensions_.size();
    dim->member_keys = &member_keys_;
    dim->table = d.table;
    dim->surrogate_key = spec::surrogate_key_column(d.table);
    dim->key = project(layout_, spec, d.key);
    dim->attributes = project(layout_, spec, d.attributes);
    dim->key_is_surrogate = d.key.size() == 1 && d.key[0].name == dim->surrogate_key;
    dim->stage_table = temp_table_name("stage_spec", d.table);
    const bool respellable = std::any_of(dim->key.begin(), dim->key.end(), [](const Projected& c) { return spec::has_several_spellings(c.type); });
    if (respellable && !dim->key_is_surrogate && d.policy != spec::DimensionPolicy::scd2) {
        // MemberKeys hashes one spelling of such a value, but a row stored under another key stays
        // under it (a member merged before the spelling was made canonical): facts take the key
        // the dimension holds.
        std::vector<std::string> natural, same;
        for (const auto& c : dim->key) natural.push_back(sql_identifier(c.name)), same.push_back("t." + sql_identifier(c.name) + " = s." + cast(c.name, c.type));
        const std::string key = sql_identifier(dim->surrogate_key);
        dim->stored_keys_sql = fmt::format("SELECT s.{0}, t.{0} FROM (SELECT DISTINCT {0}, {1} FROM {2}) s JOIN {3} t ON {4} WHERE t.{0} <> s.{0}", key,
                                           fmt::join(natural, ", "), dim->stage_table, sql_identifier(d.table), fmt::join(same, " AND "));
    }
    if (d.policy == spec::DimensionPolicy::scd2) {
        for (const auto& s : scd2)
            if (s.table == d.table) dim->scd2.emplace(s);
    } else if (d.table == "dim_date" && dim->key_is_surrogate) {
        dim->is_date = true;
        conn_->exec("CREATE TEMP TABLE " + dim->stage_table + " (date_key integer) ON COMMIT DELETE ROWS");
        dim->merge_sql = date_dimension_insert(dim->stage_table);
    } else if (d.policy == spec::DimensionPolicy::earliest) {
        dim->earliest = true;
        // A key column named like the surrogate key is that key: staged once, as the key.
        const std::vector<Projected> natural = dim->key_is_surrogate ? std::vector<Projected>{} : dim->key;
        std::vector<std::string> staged = {sql_identifier(dim->surrogate_key) + " bigint"};
        for (const auto& c : natural) staged.push_back(sql_identifier(c.name) + " text");
        for (const auto& c : dim->attributes) staged.push_back(sql_identifier(c.name) + " text");
        for (const auto& c : spec::earliest_state_columns(d)) staged.push_back(sql_identifier(c) + " timestamptz");
        conn_->exec(fmt::format("CREATE TEMP TABLE {} ({}) ON COMMIT DELETE ROWS", dim->stage_table, fmt::join(staged, ", ")));
        dim->merge_sql = earliest_attribute_merge(d.table, dim->stage_table, dim->surrogate_key, natural, dim->attributes, spec::earliest_state_columns(d),
                                                  natural.empty() ? sql_identifier(dim->surrogate_key) : natural_key_target(*conn_, d));
    } else {
        std::vector<std::string> columns = {sql_identifier(dim->surrogate_key)}, selects = {sql_identifier(dim->surrogate_key)}, staged;
        std::vector<std::string> natural, attributes;
        for (const auto& c : dim->key) {
            if (dim->key_is_surrogate) continue;
            columns.push_back(sql_identifier(c.name)), selects.push_back(cast(c.name, c.type)), staged.push_back(c.name);
            natural.push_back(sql_identifier(c.name));
        }
        for (const auto& c : dim->attributes) {
            columns.push_back(sql_identifier(c.name)), selects.push_back(cast(c.name, c.type)), staged.push_back(c.name);
            attributes.push_back(sql_identifier(c.name));
        }
        const auto state = spec::scd1_state_columns(d);  // none for SCD type 0 and without attributes
        dim->timed = !state.empty();
        conn_->exec(fmt::format("CREATE TEMP TABLE {} ({} bigint{}{}{}) ON COMMIT DELETE ROWS", dim->stage_table, sql_identifier(dim->surrogate_key),
                                staged.empty() ? "" : ", ", text_columns(staged), dim->timed ? ", " + state[0] + " timestamptz" : ""));
        const std::string conflict = natural.empty() ? sql_identifier(dim->surrogate_key) : natural_key_target(*conn_, d);
        dim->merge_sql = dim->timed ? scd1_by_event_time_merge(d.table, columns, selects, dim->stage_table, conflict, sql_identifier(dim->surrogate_key),
                                                               attributes, state[0])
                    : d.policy == spec::DimensionPolicy::derived ? derived_upsert(d.table, columns, selects, dim->stage_table, conflict, attributes)
                                                                 : scd0_insert(d.table, columns, selects, dim->stage_table, conflict);
    }
    return dim;
}

SpecBatchWriter::~SpecBatchWriter() = default;

void SpecBatchWriter::rollback() {
    if (!conn_->ok()) return;
    try {
        conn_->exec("ROLLBACK");
    } catch (...) {
    }
}

std::vector<std::int64_t> SpecBatchWriter::merge_dimension(const Dimension& d, const SpecBatch& batch, std::size_t begin, std::size_t end,
                                                           engine::TableRows& rows) {
    std::vector<std::int64_t> keys(end - begin, 0);
    std::vector<bool> has_key(end - begin, false);
    if (d.scd2) {
        std::vector<Scd2Event> events;
        std::vector<std::size_t> event_row;
        for (std::size_t r = begin; r < end; ++r) {
            const SpecRow& row = batch.rows[r];
            Scd2Event e;
            bool complete = true;
            for (const auto& c : d.key)
                if (auto v = input_text(row.values[c.index], c.type)) e.key.push_back(*v);
                else complete = false;
            if (!complete) continue;  // no natural key: the fact's key stays NULL
            std::vector<std::string> attributes;
            for (const auto& c : d.attributes)
                if (auto v = input_text(row.values[c.index], c.type)) attributes.push_back(*v);
            if (attributes.size() == d.attributes.size()) e.attributes = std::move(attributes);  // else a reference
            e.time_us = row.event_time_us;
            events.push_back(std::move(e));
            event_row.push_back(r - begin);
        }
        const auto merged = d.scd2->merge(*conn_, events);
        for (std::size_t i = 0; i < merged.size(); ++i) keys[event_row[i]] = merged[i], has_key[event_row[i]] = true;
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (!has_key[i]) keys[i] = INT64_MIN;  // NULL in the fact
        rows.table = d.table;  // the merge reports keys, not row counts
        return keys;
    }
    if (d.earliest) return merge_earliest(d, batch, begin, end, rows);
    // SCD types 1, 0 and derived: per member, the row it was first seen in (its key; an untimed
    // member's values) and, timed, the distinct attributes of its latest events (several only on
    // a tie of times, which the merge's order settles as it settles one against the stored row).
    struct Member {
        std::size_t first_row = 0;
        std::int64_t time_us = INT64_MIN;
        std::set<std::vector<std::optional<std::string>>> candidates;
    };
    std::map<std::int64_t, Member> members;
    for (std::size_t r = begin; r < end; ++r) {
        const SpecRow& row = batch.rows[r];
        const auto member = d.member_key(row);
        if (!member) continue;
        const std::int64_t key = *member;
        keys[r - begin] = key, has_key[r - begin] = true;
        Member& m = members.try_emplace(key, Member{r}).first->second;
        if (!d.timed || row.event_time_us < m.time_us) continue;  // untimed: the first row's values (one per key)
        if (row.event_time_us > m.time_us) m.time_us = row.event_time_us, m.candidates.clear();
        std::vector<std::optional<std::string>> attributes;
        for (const auto& c : d.attributes) attributes.push_back(input_text(row.values[c.index], c.type));
        m.candidates.insert(std::move(attributes));
    }
    copy_.reset();
    std::string buffer;
    for (const auto& [key, m] : members) {
        if (d.is_date) {
            copy_.begin_row(1);
            copy_.int4(static_cast<std::int32_t>(key));
            continue;
        }
        auto stage = [&](const std::vector<std::optional<std::string>>& attributes) {
            copy_.begin_row(static_cast<std::int16_t>(1 + (d.key_is_surrogate ? 0 : d.key.size()) + d.attributes.size() + (d.timed ? 1 : 0)));
            copy_.int8(key);
            if (!d.key_is_surrogate)
                for (const auto& c : d.key) copy_.text(*input_view(batch.rows[m.first_row].values[c.index], c.type, buffer));
            for (const auto& a : attributes) a ? copy_.text(*a) : copy_.null();
            if (d.timed) copy_.timestamptz_us(m.time_us);
        };
        if (d.timed) {
            for (const auto& c : m.candidates) stage(c);
            continue;
        }
        std::vector<std::optional<std::string>> attributes;  // untimed (SCD type 0, derived, no attributes)
        for (const auto& c : d.attributes) attributes.push_back(input_text(batch.rows[m.first_row].values[c.index], c.type));
        stage(attributes);
    }
    conn_->copy_in("COPY " + d.stage_table + " FROM STDIN (FORMAT binary)", copy_.finish());
    rows = upserted_rows(d.table, run_member_merge(*conn_, d.merge_sql));
    rows.unchanged = static_cast<std::int64_t>(members.size()) - rows.inserted - rows.updated;
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (!has_key[i]) keys[i] = INT64_MIN;  // NULL in the fact
    use_stored_keys(d, keys);
    return keys;
}

void SpecBatchWriter::use_stored_keys(const Dimension& d, std::vector<std::int64_t>& keys) {
    if (d.stored_keys_sql.empty()) return;
    const PgResult r = conn_->exec(d.stored_keys_sql);
    std::unordered_map<std::int64_t, std::int64_t> stored;
    for (int i = 0; i < PQntuples(r.get()); ++i) stored.emplace(std::atoll(PQgetvalue(r.get(), i, 0)), std::atoll(PQgetvalue(r.get(), i, 1)));
    for (auto& k : keys)
        if (const auto it = stored.find(k); it != stored.end()) k = it->second;
}

std::vector<std::int64_t> SpecBatchWriter::merge_earliest(const Dimension& d, const SpecBatch& batch, std::size_t begin, std::size_t end,
                                                          engine::TableRows& rows) {
    // Per member: its time range, and the candidates for its attributes: the distinct attribute
    // values of its earliest events carrying the first attribute (several only on a tie of
    // times, which the merge's order settles as it settles one against the stored row).
    struct Member {
        std::vector<std::string> key;
        std::int64_t first_us = INT64_MAX, last_us = INT64_MIN, seen_us = INT64_MAX;
        std::set<std::vector<std::optional<std::string>>> candidates;
    };
    std::vector<std::int64_t> keys(end - begin, INT64_MIN);  // INT64_MIN: no natural key, NULL in the fact
    std::map<std::int64_t, Member> members;
    for (std::size_t r = begin; r < end; ++r) {
        const SpecRow& row = batch.rows[r];
        const auto member = d.member_key(row);
        if (!member) continue;
        const std::int64_t key = *member;
        keys[r - begin] = key;
        Member& m = members[key];
        if (m.key.empty() && !d.key_is_surrogate)
            for (const auto& c : d.key) m.key.push_back(*input_text(row.values[c.index], c.type));
        m.first_us = std::min(m.first_us, row.event_time_us), m.last_us = std::max(m.last_us, row.event_time_us);
        if (d.attributes.empty() || std::holds_alternative<std::monostate>(row.values[d.attributes.front().index])) continue;
        if (row.event_time_us > m.seen_us) continue;
        if (row.event_time_us < m.seen_us) m.seen_us = row.event_time_us, m.candidates.clear();
        std::vector<std::optional<std::string>> attributes;
        for (const auto& c : d.attributes) attributes.push_back(input_text(row.values[c.index], c.type));
        m.candidates.insert(std::move(attributes));
    }
    copy_.reset();
    const auto columns = static_cast<std::int16_t>(1 + (d.key_is_surrogate ? 0 : d.key.size()) + d.attributes.size() + (d.attributes.empty() ? 2 : 3));
    for (const auto& [key, m] : members) {
        auto stage = [&](const std::vector<std::optional<std::string>>* attributes) {
            copy_.begin_row(columns);
            copy_.int8(key);
            for (const auto& part : m.key) copy_.text(part);
            for (std::size_t i = 0; i < d.attributes.size(); ++i) attributes && (*attributes)[i] ? copy_.text(*(*attributes)[i]) : copy_.null();
            if (!d.attributes.empty()) attributes ? copy_.timestamptz_us(m.seen_us) : copy_.null();
            copy_.timestamptz_us(m.first_us), copy_.timestamptz_us(m.last_us);
        };
        if (m.candidates.empty()) stage(nullptr);  // no event carried the attributes: an inferred member
        for (const auto& c : m.candidates) stage(&c);
    }
    conn_->copy_in("COPY " + d.stage_table + " FROM STDIN (FORMAT binary)", copy_.finish());
    rows = upserted_rows(d.table, run_member_merge(*conn_, d.merge_sql));
    rows.unchanged = static_cast<std::int64_t>(members.size()) - rows.inserted - rows.updated;
    use_stored_keys(d, keys);
    return keys;
}

std::vector<engine::TableRows> SpecBatchWriter::write_rows(const SpecBatch& batch, std::size_t begin, std::size_t end, Keys& keys,
                                                          std::vector<bool>& new_rows) {
    std::vector<engine::TableRows> out;
    keys.clear();
    for (const auto& d : dimensions_) {
        engine::TableRows rows;
        keys.push_back(merge_dimension(*d, batch, begin, end, rows));
        out.push_back(rows);
    }
    std::vector<bool> inserted;
    for (std::size_t i = 0; i < facts_.size(); ++i) {
        out.push_back(facts_[i]->write(batch, begin, end, keys, inserted));
        if (i == 0) new_rows = inserted;
    }
    if (facts_.empty()) new_rows.assign(batch.rows.size(), true);
    return out;
}

engine::CommitReport SpecBatchWriter::write(const engine::MicroBatch& micro_batch) {
    const auto& batch = static_cast<const SpecBatch&>(micro_batch);
    engine::CommitReport report;
    conn_->exec(kBeginReadCommitted);
    try {
        const auto t1 = Clock::now();
        Keys keys;
        std::vector<bool> new_rows;
        report.tables = write_rows(batch, 0, batch.rows.size(), keys, new_rows);
        BatchTotals totals;
        if (!facts_.empty()) {
            const auto& main_fact = report.tables[dimensions_.size()];
            totals.facts_inserted = main_fact.inserted;
            totals.duplicates = main_fact.unchanged;
        }
        if (!windows_->empty()) {
            // Only the records whose fact is new: a duplicate (resent, or read again after a
            // rewind) counts once in the windows as in the facts.
            const auto tw = Clock::now();
            SpecWindowOutcome w = windows_->write(batch, 0, batch.rows.size(), keys, new_rows);
            report.window_write_seconds = seconds_since(tw);
            report.tables.insert(report.tables.end(), w.tables.begin(), w.tables.end());
            for (const auto& late : w.late)
                for (std::size_t p = 0; p < late.by_policy.size(); ++p) totals.late[p] += late.by_policy[p];
            report.late = std::move(w.late);
            // starstream.batch.watermark floors the database-wide window watermark that the
            // views of the compiled pipeline's windowed tables finalise by, so that it never goes back (a
            // new partition without a watermark yet). Recorded as it stands, like the compiled
            // pipeline does, never the spec's own topics' one: that would move it ahead.
            totals.window_watermark_us = w.database_watermark_us;
        }
        report.tables.push_back(ledger_->copy_dead_letters(batch));
        totals.dead_letters = report.tables.back().inserted;
        totals.min_event_time_us = batch.min_event_time_us;
        totals.max_event_time_us = batch.max_event_time_us;
        ledger_->update_progress(batch);
        ledger_->record_offset_gaps(batch);
        ledger_->insert_batch_row(batch, totals);
        report.merge_seconds = seconds_since(t1);
        const auto t2 = Clock::now();
        conn_->exec("COMMIT");
        report.commit_seconds = seconds_since(t2);
        report.rows_inserted = totals.facts_inserted;
        report.duplicates = totals.duplicates;
        report.dead_letters = totals.dead_letters;
    } catch (...) {
        rollback();
        throw;
    }
    report.event_times_us.reserve(batch.rows.size());
    for (const auto& r : batch.rows) report.event_times_us.push_back(r.event_time_us);
    return report;
}

std::optional<PgError> SpecBatchWriter::probe(const SpecBatch& batch, std::size_t begin, std::size_t end) {
    try {
        conn_->exec(kBeginReadCommitted);
        Keys keys;
        std::vector<bool> new_rows;
        write_rows(batch, begin, end, keys, new_rows);
        // The windows too: a value only they refuse (a bigint sum overflowing, a distinct member
        // too long for its index) is pinned to its record like any other.
        if (!windows_->empty()) windows_->write(batch, begin, end, keys, new_rows);
        conn_->exec("ROLLBACK");
        return std::nullopt;
    } catch (const PgError& e) {
        rollback();
        if (e.transient()) throw;
        return e;
    }
}

std::vector<engine::RejectedRow> SpecBatchWriter::find_rejected(const engine::MicroBatch& micro_batch, const std::function<void()>& progress,
                                                                std::size_t limit) {
    const auto& batch = static_cast<const SpecBatch&>(micro_batch);
    std::vector<engine::RejectedRow> out;
    if (batch.rows.empty()) return out;
    auto try_range = [&](std::size_t b, std::size_t e) { return progress(), probe(batch, b, e); };
    auto refuse = [&](std::size_t r, const PgError& error) {
        const SpecRow& row = batch.rows[r];
        out.push_back({r, {batch.topics[row.topic_index], row.partition}, row.offset, error.sqlstate(),
                       "rejected by Postgres: " + first_line(error.what()), std::nullopt});
        return out.size() <= limit;
    };
    if (auto failed = probe(batch, 0, batch.rows.size())) bisect(try_range, refuse, 0, batch.rows.size(), *failed);
    return out;
}

}  // namespace starstream::daemon::postgres
