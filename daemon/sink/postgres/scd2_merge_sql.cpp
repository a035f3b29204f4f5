#include "sink/postgres/scd2_merge_sql.h"

#include "sink/postgres/temp_table_name.h"

#include <functional>
#include <map>
#include <stdexcept>

namespace starstream::daemon::postgres {

namespace {

using Columns = std::vector<Scd2Column>;

/// Joins f(column) over `columns` with `separator`.
std::string each(const Columns& columns, const std::string& separator, const std::function<std::string(const Scd2Column&)>& f) {
    std::string out;
    for (const auto& c : columns) out += (out.empty() ? "" : separator) + f(c);
    return out;
}

/// Expands the placeholders of a statement template. The templates below say in SQL what they
/// do; the placeholders only spell column lists:
///   {name}          a table or column name of the descriptor (dim, obs, seq, sk, in, input...)
///   {k} {a}         natural key / attribute columns;  {p.k} {p.a}: prefixed by "p."
///   {k typed}       "item_id text, ..." (also {a typed});  {k cast}: "item_id::text, ..."
///   {k p=q}         p.k1 = q.k1 AND ...
///   {a p<>q}        ROW(p.a...) IS DISTINCT FROM ROW(q.a...);  {a p==q}: IS NOT DISTINCT FROM
///   {a p desc}      p.a1 DESC, ...
///   {a p|q}         CASE WHEN q.scd2_from IS NULL THEN p.a1 ELSE q.a1 END AS a1, ...
///   {a lag}         ROW(lag(a1) OVER w, ...)
class Template {
public:
    Template(const Scd2Dimension& d, std::map<std::string, std::string> names) : d_(d), names_(std::move(names)) {}

    std::string operator()(const std::string& text) const {
        std::string out;
        std::size_t at = 0;
        for (std::size_t open; (open = text.find('{', at)) != std::string::npos;) {
            const std::size_t close = text.find('}', open);
            out += text.substr(at, open - at) + expand(text.substr(open + 1, close - open - 1));
            at = close + 1;
        }
        return out + text.substr(at);
    }

private:
    std::string expand(const std::string& token) const {
        if (auto name = names_.find(token); name != names_.end()) return name->second;
        if (token.size() > 2 && token[token.size() - 2] == '.') {  // {p.k} {p.a}
            const std::string p = token.substr(0, token.size() - 1);
            return each(columns(token.back()), ", ", [&](auto& c) { return p + c.name; });
        }
        const Columns& cols = columns(token[0]);
        if (token.size() == 1) return each(cols, ", ", [](auto& c) { return c.name; });
        const std::string arg = token.substr(2);
        if (arg == "typed") return each(cols, ", ", [](auto& c) { return c.name + " " + c.type; });
        if (arg == "cast") return each(cols, ", ", [](auto& c) { return c.name + "::" + c.type; });
        if (arg == "lag") return "ROW(" + each(cols, ", ", [](auto& c) { return "lag(" + c.name + ") OVER w"; }) + ")";
        if (auto op = arg.find("<>"); op != std::string::npos) return rows(cols, arg.substr(0, op), " IS DISTINCT FROM ", arg.substr(op + 2));
        if (auto op = arg.find("=="); op != std::string::npos) return rows(cols, arg.substr(0, op), " IS NOT DISTINCT FROM ", arg.substr(op + 2));
        if (auto op = arg.find('='); op != std::string::npos) {
            const std::string p = arg.substr(0, op), q = arg.substr(op + 1);
            return each(cols, " AND ", [&](auto& c) { return p + "." + c.name + " = " + q + "." + c.name; });
        }
        if (auto op = arg.find('|'); op != std::string::npos) {
            const std::string p = arg.substr(0, op), q = arg.substr(op + 1);
            return each(cols, ", ", [&](auto& c) {
                return "CASE WHEN " + q + ".scd2_from IS NULL THEN " + p + "." + c.name + " ELSE " + q + "." + c.name + " END AS " + c.name;
            });
        }
        if (auto op = arg.find(" desc"); op != std::string::npos) {
            const std::string p = arg.substr(0, op);
            return each(cols, ", ", [&](auto& c) { return p + "." + c.name + " DESC"; });
        }
        throw std::logic_error("scd2 SQL template: unknown placeholder {" + token + "}");
    }

    const Columns& columns(char which) const {
        if (which == 'k') return d_.natural_key;
        if (which == 'a') return d_.attributes;
        throw std::logic_error(std::string("scd2 SQL template: no column list '") + which + "'");
    }

    static std::string rows(const Columns& cols, const std::string& p, const std::string& op, const std::string& q) {
        return "ROW(" + each(cols, ", ", [&](auto& c) { return p + "." + c.name; }) + ")" + op + "ROW(" +
               each(cols, ", ", [&](auto& c) { return q + "." + c.name; }) + ")";
    }

    const Scd2Dimension& d_;
    std::map<std::string, std::string> names_;
};

// ---- temp tables -------------------------------------------------------------------------------

constexpr const char* kPrepare = R"SQL(
CREATE TEMP TABLE IF NOT EXISTS {in} (scd2_ord int, {k text}, scd2_obs boolean, {a text}, scd2_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {input} (scd2_ord int, {k typed}, scd2_obs boolean, {a typed}, scd2_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {new} ({k typed}, observed_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {override} ({k typed}, scd2_from timestamptz, scd2_to timestamptz, {a typed}) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {span} ({sk} bigint, {k typed}, {a typed}, valid_from timestamptz, valid_to timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {piece} ({k typed}, scd2_old_key bigint, scd2_from timestamptz, scd2_to timestamptz, {a typed},
                                         scd2_unchanged boolean, scd2_run bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS {run} (scd2_run bigint, {sk} bigint, {k typed}, {a typed}, valid_from timestamptz, valid_to timestamptz) ON COMMIT DELETE ROWS;
TRUNCATE {in}, {input}, {new}, {override}, {span}, {piece}, {run};
)SQL";

// ---- the merge script, in order ------------------------------------------------------------------

constexpr const char* kTyped = R"SQL(
INSERT INTO {input} SELECT scd2_ord, {k cast}, scd2_obs, {a cast}, scd2_at FROM {in};
)SQL";

// One advisory lock per natural key, in ascending order (the aggregate consumes the sorted
// subquery row by row): batches sharing keys queue instead of deadlocking. The hash is of the
// typed key (each type's hash function: equal values, equal hashes), not of its text, so that
// instances spelling one numeric key "1.0" and "1" take the same lock.
constexpr const char* kLock = R"SQL(
SELECT count(pg_advisory_xact_lock(h))
FROM (SELECT DISTINCT hash_record_extended(ROW('{dim}'::text, {k}), 0) AS h FROM {input} ORDER BY h) AS keys;
)SQL";

// A key never seen gets its inferred member: one version over all time, attributes unknown.
// Its first observation then overwrites it in place (keeping its key).
// Why LATERAL ... LIMIT 1 and = ANY (ARRAY(...)) in this script rather than plain joins and NOT
// EXISTS: the temp tables have no statistics, the planner guesses hundreds of rows in them and
// then hashes the whole dimension (a sequential scan per statement, measured in the
// ALateObservationInALongHistoryStaysLocal test); these forms can only be index probes.
constexpr const char* kInferred = R"SQL(
INSERT INTO {dim} ({sk}, {k}, valid_from, valid_to, is_current)
SELECT nextval('{seq}'), {n.k}, '-infinity', 'infinity', true
FROM (SELECT DISTINCT {k} FROM {input}) AS n
LEFT JOIN LATERAL (SELECT true AS found FROM {dim} AS d WHERE {k d=n} LIMIT 1) AS x ON true
WHERE x.found IS NULL;
)SQL";

// The primary key deduplicates against stored and in-batch observations; only the new ones
// can change versions, and of those only the ones whose values differ from the version stored
// at their time: one equal to it (most of them: values change rarely) neither moves a boundary
// nor changes a value, since the boundaries of the others are read from the observation table,
// where it is. Skipping it saves the override's three probes (bench/results.md, issue 14).
constexpr const char* kNew = R"SQL(
WITH inserted AS (
    INSERT INTO {obs} ({k}, observed_at, {a})
    SELECT DISTINCT {k}, scd2_at, {a} FROM {input} WHERE scd2_obs
    ON CONFLICT DO NOTHING
    RETURNING {k}, observed_at, {a})
INSERT INTO {new} SELECT DISTINCT {i.k}, i.observed_at FROM inserted AS i
CROSS JOIN LATERAL (SELECT {d.a} FROM {dim} AS d WHERE {k d=i} AND d.valid_from <= i.observed_at
                    ORDER BY d.valid_from DESC LIMIT 1) AS d
WHERE {a d<>i};
)SQL";

// Where each new observation time now decides the values: up to the next observation of the
// key (three primary-key probes each; min() rather than EXISTS, which the planner may answer
// with a sequential scan hoping to meet a matching row early). The values are those of the greatest tuple at that
// time, which may be an older observation (a tie the new one loses changes nothing). The
// values stored there before were constant on this interval (no observation inside it), so it
// lies inside one version.
constexpr const char* kOverride = R"SQL(
INSERT INTO {override} ({k}, scd2_from, scd2_to, {a})
SELECT {n.k},
       CASE WHEN (SELECT min(o.observed_at) FROM {obs} AS o WHERE {k o=n}) < n.observed_at
            THEN n.observed_at ELSE '-infinity' END,
       coalesce((SELECT min(o.observed_at) FROM {obs} AS o WHERE {k o=n} AND o.observed_at > n.observed_at), 'infinity'),
       {w.a}
FROM {new} AS n
CROSS JOIN LATERAL (SELECT {o.a} FROM {obs} AS o WHERE {k o=n} AND o.observed_at = n.observed_at
                    ORDER BY {a o desc} LIMIT 1) AS w;
)SQL";

// The versions to rebuild: each one an override changes (found by an index probe on (natural
// key, valid_from)), and its neighbours, with which the changed stretch may merge. Runs cannot
// merge further: a neighbour left unchanged still differs from its own other neighbour.
constexpr const char* kSpan = R"SQL(
WITH hit AS (
    SELECT DISTINCT d.{sk}
    FROM {override} AS v
    CROSS JOIN LATERAL (SELECT d.{sk}, {d.a} FROM {dim} AS d WHERE {k d=v} AND d.valid_from <= v.scd2_from
                        ORDER BY d.valid_from DESC LIMIT 1) AS d
    WHERE {a d<>v}),
hit_version AS (SELECT d.* FROM {dim} AS d WHERE d.{sk} = ANY (ARRAY(SELECT {sk} FROM hit))),
around AS (
    SELECT h.{sk}, {h.k}, {h.a}, h.valid_from, h.valid_to FROM hit_version AS h
    UNION ALL
    SELECT p.{sk}, {p.k}, {p.a}, p.valid_from, p.valid_to
    FROM hit_version AS h
    CROSS JOIN LATERAL (SELECT * FROM {dim} AS p WHERE {k p=h} AND p.valid_from < h.valid_from ORDER BY p.valid_from DESC LIMIT 1) AS p
    UNION ALL
    SELECT n.{sk}, {n.k}, {n.a}, n.valid_from, n.valid_to
    FROM hit_version AS h
    CROSS JOIN LATERAL (SELECT * FROM {dim} AS n WHERE {k n=h} AND n.valid_from = h.valid_to LIMIT 1) AS n)
INSERT INTO {span} SELECT DISTINCT ON ({sk}) * FROM around;
)SQL";

// The span cut at override bounds, each piece with the values now in force, then numbered into
// runs: a piece continues the run before it when it is adjacent and has the same values.
constexpr const char* kPiece = R"SQL(
WITH cut AS (
    SELECT s.{sk}, s.valid_from AS c FROM {span} AS s
    UNION
    SELECT s.{sk}, v.scd2_from FROM {span} AS s JOIN {override} AS v
        ON {k v=s} AND v.scd2_from > s.valid_from AND v.scd2_from < s.valid_to
    UNION
    SELECT s.{sk}, v.scd2_to FROM {span} AS s JOIN {override} AS v
        ON {k v=s} AND v.scd2_to > s.valid_from AND v.scd2_to < s.valid_to),
bounds AS (
    SELECT c.{sk}, c.c AS scd2_from, lead(c.c, 1, s.valid_to) OVER (PARTITION BY c.{sk} ORDER BY c.c) AS scd2_to
    FROM cut AS c JOIN {span} AS s USING ({sk})),
valued AS (
    SELECT {s.k}, s.{sk} AS scd2_old_key, b.scd2_from, b.scd2_to, {a s|v},
           v.scd2_from IS NULL OR {a v==s} AS scd2_unchanged
    FROM bounds AS b JOIN {span} AS s USING ({sk})
    LEFT JOIN {override} AS v ON {k v=s} AND v.scd2_from = b.scd2_from),
flagged AS (
    SELECT *, CASE WHEN lag(scd2_to) OVER w = scd2_from AND {a lag} IS NOT DISTINCT FROM ROW({a}) THEN 0 ELSE 1 END AS starts
    FROM valued WINDOW w AS (PARTITION BY {k} ORDER BY scd2_from))
INSERT INTO {piece} ({k}, scd2_old_key, scd2_from, scd2_to, {a}, scd2_unchanged, scd2_run)
SELECT {k}, scd2_old_key, scd2_from, scd2_to, {a}, scd2_unchanged, sum(starts) OVER (ORDER BY {k}, scd2_from)
FROM flagged;
)SQL";

// Surrogate keys of the new versions. Each old version claims one run: the one holding its
// earliest unchanged piece, else (wholly overwritten) the one holding its start. Each run takes
// its best claimer (an unchanged one first, then the earliest) or a new key from the sequence.
constexpr const char* kRun = R"SQL(
WITH claim AS (
    SELECT DISTINCT ON (p.scd2_old_key) p.scd2_old_key, p.scd2_run, p.scd2_unchanged, s.valid_from
    FROM {piece} AS p JOIN {span} AS s ON s.{sk} = p.scd2_old_key
    ORDER BY p.scd2_old_key, p.scd2_unchanged DESC, p.scd2_from),
taken AS (
    SELECT DISTINCT ON (scd2_run) scd2_run, scd2_old_key FROM claim ORDER BY scd2_run, scd2_unchanged DESC, valid_from),
bounds AS (SELECT scd2_run, min(scd2_from) AS valid_from, max(scd2_to) AS valid_to FROM {piece} GROUP BY scd2_run),
head AS (SELECT DISTINCT ON (scd2_run) scd2_run, {k}, {a} FROM {piece} ORDER BY scd2_run, scd2_from)
INSERT INTO {run} (scd2_run, {sk}, {k}, {a}, valid_from, valid_to)
SELECT f.scd2_run, coalesce(t.scd2_old_key, nextval('{seq}')), {f.k}, {f.a}, b.valid_from, b.valid_to
FROM head AS f JOIN bounds AS b USING (scd2_run) LEFT JOIN taken AS t USING (scd2_run);
)SQL";

// Facts whose stretch of an old version now belongs to another key. With an index on
// (key column, time column) each piece is one index range scan.
constexpr const char* kRepoint = R"SQL(
UPDATE {fact} AS f SET {fact_key} = r.{sk}
FROM {piece} AS p JOIN {run} AS r USING (scd2_run)
WHERE r.{sk} <> p.scd2_old_key AND f.{fact_key} = p.scd2_old_key
  AND f.{fact_time} >= p.scd2_from AND f.{fact_time} < p.scd2_to;
)SQL";

// Replace the versions that changed: delete those no run reproduces exactly, insert runs not
// stored. Delete first, so that the (natural key, valid_from) and one-current-per-key unique
// indexes never see the old and the new rows together.
constexpr const char* kReplace = R"SQL(
DELETE FROM {dim} AS d
WHERE d.{sk} = ANY (ARRAY(
    SELECT s.{sk} FROM {span} AS s
    WHERE NOT EXISTS (SELECT 1 FROM {run} AS r WHERE r.{sk} = s.{sk} AND r.valid_from = s.valid_from
                      AND r.valid_to = s.valid_to AND {a r==s})));
INSERT INTO {dim} ({sk}, {k}, {a}, valid_from, valid_to, is_current)
SELECT r.{sk}, {r.k}, {r.a}, r.valid_from, r.valid_to, r.valid_to = 'infinity'
FROM {run} AS r
WHERE NOT EXISTS (SELECT 1 FROM {span} AS s WHERE s.{sk} = r.{sk} AND s.valid_from = r.valid_from
                  AND s.valid_to = r.valid_to AND {a r==s});
)SQL";

// Last: the key in force at each event's time (one index probe each).
constexpr const char* kKeys = R"SQL(
SELECT i.scd2_ord, v.{sk}
FROM {input} AS i
CROSS JOIN LATERAL (SELECT d.{sk} FROM {dim} AS d WHERE {k d=i} AND d.valid_from <= i.scd2_at
                    ORDER BY d.valid_from DESC LIMIT 1) AS v
ORDER BY i.scd2_ord;
)SQL";

constexpr const char* kSchema = R"SQL(
CREATE SEQUENCE IF NOT EXISTS {seq};
CREATE TABLE IF NOT EXISTS {dim} (
    {sk} bigint PRIMARY KEY,
    {k typed},
    {a typed},
    valid_from timestamptz NOT NULL,
    valid_to timestamptz NOT NULL,
    is_current boolean NOT NULL,
    CHECK (valid_from < valid_to),
    CHECK (is_current = (valid_to = 'infinity')),
    UNIQUE ({k}, valid_from));
CREATE UNIQUE INDEX IF NOT EXISTS {dim}_current ON {dim} ({k}) WHERE is_current;
CREATE TABLE IF NOT EXISTS {obs} (
    {k typed},
    observed_at timestamptz,
    {a typed},
    PRIMARY KEY ({k}, observed_at, {a}));
)SQL";

Template template_for(const Scd2Dimension& d) {
    auto temp = [&d](const char* role) { return temp_table_name("scd2", d.table, role); };
    return Template(d, {{"dim", d.table}, {"obs", d.observation_table()}, {"seq", d.key_sequence()}, {"sk", d.surrogate_key},
                        {"in", temp("in")}, {"input", temp("input")}, {"new", temp("new")}, {"override", temp("override")},
                        {"span", temp("span")}, {"piece", temp("piece")}, {"run", temp("run")},
                        {"k text", each(d.natural_key, ", ", [](auto& c) { return c.name + " text"; })},
                        {"a text", each(d.attributes, ", ", [](auto& c) { return c.name + " text"; })}});
}

/// The re-pointing statement of one fact table.
std::string repoint(const Template& t, const Scd2FactLink& fact) {
    std::string sql = kRepoint;
    for (auto [from, to] : {std::pair<std::string, std::string>{"{fact}", fact.table}, {"{fact_key}", fact.key_column}, {"{fact_time}", fact.time_column}})
        for (std::size_t at; (at = sql.find(from)) != std::string::npos;) sql.replace(at, from.size(), to);
    return t(sql);
}

}  // namespace

Scd2Sql build_scd2_sql(const Scd2Dimension& d) {
    const Template t = template_for(d);
    Scd2Sql sql;
    sql.prepare = t(kPrepare);
    sql.copy = t("COPY {in} FROM STDIN (FORMAT binary)");
    sql.merge = t(kTyped) + t(kLock) + t(kInferred) + t(kNew) + t(kOverride) + t(kSpan) + t(kPiece) + t(kRun);
    for (const auto& fact : d.facts) sql.merge += repoint(t, fact);
    sql.merge += t(kReplace) + t(kKeys);
    return sql;
}

std::string scd2_schema_sql(const Scd2Dimension& d) { return template_for(d)(kSchema); }

}  // namespace starstream::daemon::postgres
