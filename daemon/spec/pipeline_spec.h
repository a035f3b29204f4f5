// A pipeline spec: what one topic family becomes in the star schema, as data (one YAML file per
// pipeline in pipelines/, read by spec_reader.h). It names the source topics, the typed fields
// taken from each JSON message by JSON pointer with their validation rules (a failed rule is a
// dead-letter reason), the event id (dedupe key) and event time, the named enrichers applied,
// and the tables: dimensions (natural key, attributes, SCD policy), facts (grain, dimension
// keys, columns) and windowed aggregates (window, filter, group keys, aggregates, late policy).
//
// References: a field is named by its spec name ("price"), an enricher output by
// "<enricher>.<output>" ("ua.browser_family"); a fact's or window's dimension by its table name,
// whose surrogate key column is the name without "dim_" plus "_key" (dim_store -> store_key; a
// single natural key column so named is the surrogate key itself, as dim_date's date_key).
// A column takes the reference's name without the enricher ("ua.os_family" -> os_family), or
// the name given with it ({product_url: page.url}).
// Durations (`*_us`) are microseconds, at most 3660 days.
// Value types; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace starstream::daemon::spec {

enum class FieldType { text, integer, numeric, double_precision, boolean, uuid, inet, jsonb, timestamp };

/// How a timestamp field is written: epoch seconds/milliseconds/microseconds (a number), ISO
/// 8601 text, or a strftime-style format string.
struct TimestampEncoding {
    enum class Kind { epoch_s, epoch_ms, epoch_us, iso8601, format } kind = Kind::iso8601;
    std::string format;  ///< Kind::format only
};

/// One place a field's value may come from: a JSON pointer, tried only when the message's text at
/// each condition pointer is one of its values (`if: {/collection: [a, b]}`; none: always).
struct FieldSource {
    std::string pointer;
    std::vector<std::pair<std::string, std::vector<std::string>>> conditions;
};

struct FieldSpec {
    std::string name;
    std::string pointer;  ///< RFC 6901 JSON pointer into the message ("/event_id"); the first source's
    /// Where the value may come from, in order: the first source whose condition holds and whose
    /// pointer holds a value wins (`pointer: [{pointer: /a, if: {/kind: x}}, /b]`). Empty: `pointer`.
    std::vector<FieldSource> sources;
    /// Set: the field holds a value only when the message also has one at this pointer
    /// (`only_with: /product_id`); otherwise it is null.
    std::string only_with;
    /// Non-empty: a text field's value is replaced by its entry (`map: {from: to}`); a value the
    /// map does not list becomes null. Rules apply to the value as sent, before the map.
    std::map<std::string, std::string, std::less<>> value_map;  // less<>: found by a value's view
    /// A text field's value when the message holds none (`default: ""`), "" included.
    std::optional<std::string> default_value;
    /// `invalid: no_value`: a string the type cannot read is no value instead of a dead letter (as
    /// the compiled product_view reads an IP address it cannot parse); another JSON type still is one.
    bool invalid_is_no_value = false;
    /// Non-empty: the field is no part of the message but the event's content id, a uuid of
    /// these fields' typed values (indices into PipelineSpec::fields, each before this one;
    /// content_id.h), made by `event: {id: {name: <this field>, hash: [...]}}`.
    std::vector<std::size_t> hash_of;
    FieldType type = FieldType::text;
    TimestampEncoding timestamp;  ///< FieldType::timestamp only
    // Validation rules: each failure is a dead letter naming the field and the rule.
    bool required = false;
    std::optional<double> min, max;       ///< numeric types: inclusive range
    std::vector<std::string> one_of;      ///< allowed values (text)
    std::string pattern;                  ///< RE2, matched against the whole value (text)
    std::optional<std::size_t> max_length;  ///< text: bytes
};

struct EventSpec {
    /// Fields whose values together identify an event (dedupe key). `id: {name: k, hash: [a, b]}`
    /// makes it one field k (uuid, FieldSpec::hash_of) derived from the content of a and b.
    std::vector<std::string> id;
    std::string time;             ///< the event-time field (FieldType::timestamp)
};

/// A named enricher: a function from the catalog (enricher_catalog.h) applied to input references.
struct EnricherSpec {
    std::string name;
    std::string function;
    std::vector<std::string> inputs;
};

enum class DimensionPolicy {
    scd1,      ///< attributes of the latest event by event time (scd1_state_columns), whatever the arrival order
    scd0,      ///< retain original (Kimball's type 0): attributes set when the member is inserted, never rewritten
    derived,   ///< attributes the pipeline computes from the key (a parsed user agent): rewritten when they differ, so newer reference data corrects them in place
    scd2,      ///< a version per attribute change: valid_from/valid_to/is_current; facts take the version current at event time
    earliest,  ///< attributes from the earliest event that carries them (earliest_state_columns)
};

/// A table column and the reference whose value it holds.
struct Column {
    std::string name;
    std::string ref;
    bool operator==(const Column&) const = default;
};

struct DimensionSpec {
    std::string table;
    std::vector<Column> key;         ///< natural key
    std::vector<Column> attributes;
    DimensionPolicy policy = DimensionPolicy::scd1;
};

struct FactSpec {
    std::string table;
    std::vector<std::string> grain;       ///< references whose values identify a row; empty: one row per event (the event id)
    std::vector<std::string> dimensions;  ///< dimension tables whose surrogate key each row carries
    std::vector<Column> columns;          ///< degenerate dimensions and measures
};

/// global: one window per group for all time (Beam's and Flink's GlobalWindows): no bounds, the
/// group keys are the table's key, and no record is ever late (it has no end to be late after).
enum class WindowKind { tumbling, hopping, cumulative, session, global };
enum class AggregateFunction { count, sum, min, max, avg, count_distinct, first, last, any, mode };
enum class LatePolicy { drop, dead_letter, correct };

/// A record filter: every listed reference equals one of its values (an empty list: has a value,
/// `{present: true}` in YAML); a record without a value for a listed reference never passes.
using Filter = std::map<std::string, std::vector<std::string>>;

/// first and last: the value of the counted record with the earliest (latest) event time, a tie
/// going to the smaller (greater) event id as text in byte order, so that arrival order never
/// decides (session windows: the tie goes to the least (greatest) value, spec_session_writer.h);
/// any: whether some counted record passes the aggregate's `where`; mode: the most frequent
/// non-empty value of the counted records, a tie going to the smallest (byte order for text),
/// exact across batches through its occurrence table (table_schema.h mode_count_table).
struct AggregateSpec {
    std::string column;
    AggregateFunction function = AggregateFunction::count;
    std::string of;  ///< the aggregated reference; empty for count and any
    Filter where;    ///< only records passing it are aggregated
};

/// A column of a window table's view computed from the row: a PostgreSQL expression over the
/// table's columns (and, in a segment rule, over the derived columns), checked by PostgreSQL
/// when the view is made (spec_migrator.h). `line`, `column`: where the spec gives it.
struct DerivedColumn {
    std::string name;
    std::string expression;
    int line = 0, column = 0;
};

/// A named segment and the condition that puts a row in it (empty: always, the last rule only).
struct SegmentRule {
    std::string name;
    std::string when;
    int line = 0, column = 0;
};

/// The view over a window table: the table's columns, the derived columns, and the segment
/// column (the name of the first rule whose `when` holds). Holds no data: it is recomputed on
/// read, so it always agrees with the aggregates it is derived from.
struct WindowViewSpec {
    std::string name;  ///< "" when the window has no view
    int line = 0;
    std::vector<DerivedColumn> derived;
    std::string segment_column;  ///< "" without segments
    std::vector<SegmentRule> segments;
};

struct WindowTableSpec {
    std::string table;
    WindowKind kind = WindowKind::tumbling;
    std::int64_t size_us = 0;   ///< tumbling, hopping, cumulative
    std::int64_t slide_us = 0;  ///< hopping: slide; cumulative: step
    std::int64_t gap_us = 0;    ///< session
    std::string session_key;    ///< session: the reference sessions are per
    std::string start_column = "window_start", end_column = "window_end";  ///< the window's bounds (timestamptz)
    Filter where;
    std::vector<std::string> group_by;  ///< references or dimension tables
    std::vector<AggregateSpec> aggregates;
    LatePolicy late = LatePolicy::drop;
    std::int64_t allowed_lateness_us = 0;  ///< correct: how long past its end a window still takes records
    WindowViewSpec view;
};

struct PipelineSpec {
    std::string name;
    std::string file;  ///< where it was read from
    std::vector<std::string> topics;
    std::vector<FieldSpec> fields;
    EventSpec event;
    std::vector<EnricherSpec> enrichers;
    std::vector<DimensionSpec> dimensions;
    std::vector<FactSpec> facts;
    std::vector<WindowTableSpec> windows;
    /// Line (1-based) of the pipeline name (kPipelineLine), of the topics (kTopicsLine) and of
    /// each table (by table name): where checks across specs point.
    std::map<std::string, int> lines;
    static constexpr const char* kPipelineLine = "#pipeline";  ///< not a table name: '#' is not in one
    static constexpr const char* kTopicsLine = "#topics";

    /// The field called `field_name`; nullptr if none.
    const FieldSpec* field(const std::string& field_name) const;
    /// The dimension written to `table`; nullptr if none.
    const DimensionSpec* dimension(const std::string& table) const;
    /// Every table the spec writes (dimensions, facts, windows), in that order.
    std::vector<std::string> tables() const;
};

/// The state columns an earliest-attribute dimension keeps (timestamptz): `<first attribute>_seen`,
/// the time of the event its attributes came from (NULL while no event carried the first one:
/// an inferred member), when it has attributes; then first_seen and last_seen, the earliest and
/// latest event times of the member. product_view's dim_store (domain_seen) and dim_product
/// (product_url_seen) keep the same.
std::vector<std::string> earliest_state_columns(const DimensionSpec& dimension);

/// The state column an SCD type 1 dimension with attributes keeps (timestamptz):
/// attributes_event_time, the event time of the attributes in force (NULL in a row written before
/// the column existed: any observation replaces it). None without attributes or for other policies.
std::vector<std::string> scd1_state_columns(const DimensionSpec& dimension);

/// The column a reference makes unless named: "ua.os_family" -> "os_family", "price" -> "price".
std::string column_name_of(const std::string& ref);

/// The surrogate key column of a dimension table: "dim_store" -> "store_key".
std::string surrogate_key_column(const std::string& table);

/// The state columns an aggregate of a tumbling, hopping or cumulative window keeps next to its
/// value column, what lets a merge of partials stay exact whatever the batch boundaries: avg(x)
/// as `c`: `c_sum` and `c_count` (c is c_sum / c_count); first(x), last(x) as `c`:
/// `c_event_time`, the event time of the record whose value `c` holds (a tie at that time is
/// broken by the value itself: spec_first_last.h); none for the others (mode keeps its state in a table of its own). In a session window
/// (spec_session_writer.h: its first/last is the value at the session's first/last record, as
/// product_view's win_visits, sql/migrations/005, keeps it) a first or last keeps
/// `c_event_time` only with its own `where`; avg keeps the same as elsewhere.
std::vector<std::string> aggregate_state_columns(const WindowTableSpec& window, const AggregateSpec& aggregate);

}  // namespace starstream::daemon::spec
