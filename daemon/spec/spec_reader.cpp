#include "spec/spec_reader.h"

#include "spec/enricher_catalog.h"
#include "window/window_spec.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace starstream::daemon::spec {

namespace {

constexpr std::int64_t kMillisecondUs = 1000, kSecondUs = 1000 * kMillisecondUs, kMinuteUs = 60 * kSecondUs, kHourUs = 60 * kMinuteUs,
                       kDayUs = 24 * kHourUs;

/// A YAML node with the dotted key that leads to it, so that every error names file, line and key.
class Cursor {
public:
    /// `mark`: where errors point; the node's own position unless given (an empty value has none).
    Cursor(YAML::Node node, std::string key, const std::string& file, std::optional<YAML::Mark> mark = std::nullopt)
        : node_(std::move(node)), key_(std::move(key)), file_(&file), mark_(mark.value_or(node_.Mark())) {}

    [[noreturn]] void fail(const std::string& message) const {
        throw SpecError(*file_, mark_.line + 1, mark_.column + 1, key_.empty() ? "(top level)" : key_, message);
    }
    const std::string& key() const { return key_; }
    int line() const { return mark_.line + 1; }
    bool is_sequence() const { return node_.IsSequence(); }
    bool is_scalar() const { return node_.IsScalar(); }

    /// The entries of a mapping in file order, refusing keys outside `allowed` (unless empty)
    /// and keys given twice.
    std::vector<std::pair<std::string, Cursor>> entries(const std::set<std::string>& allowed = {}) const {
        if (!node_.IsMap()) fail("expected a mapping (key: value lines)");
        std::vector<std::pair<std::string, Cursor>> out;
        std::set<std::string> seen;
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            const std::string name = it->first.Scalar();
            const Cursor key_cursor(it->first, join(name), *file_);
            if (!allowed.empty() && !allowed.count(name)) {
                std::string list;
                for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                key_cursor.fail("unknown key '" + name + "' (expected one of: " + list + ")");
            }
            if (!seen.insert(name).second) key_cursor.fail("'" + name + "' is given twice");
            // An empty value has no position of its own: point at its key.
            const bool empty = it->second.IsNull() || it->second.Mark().line < 0;
            out.emplace_back(name, Cursor(it->second, key_cursor.key_, *file_, empty ? it->first.Mark() : it->second.Mark()));
        }
        return out;
    }
    /// The entry `name` of entries(), or nullptr.
    static const Cursor* find(const std::vector<std::pair<std::string, Cursor>>& entries, const std::string& name) {
        for (const auto& [k, c] : entries)
            if (k == name) return &c;
        return nullptr;
    }
    const Cursor& need(const std::vector<std::pair<std::string, Cursor>>& entries, const std::string& name) const {
        if (const Cursor* c = find(entries, name)) return *c;
        fail("missing key '" + join(name) + "'");
    }

    std::string text() const {
        if (!node_.IsScalar()) fail("expected a single value");
        return node_.Scalar();
    }
    bool boolean() const {
        const std::string v = text();
        if (v == "true") return true;
        if (v == "false") return false;
        fail("expected true or false, got '" + v + "'");
    }
    double number() const {
        const std::string v = text();
        double out = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        if (ec != std::errc() || end != v.data() + v.size()) fail("expected a number, got '" + v + "'");
        return out;
    }
    /// A scalar or a sequence of scalars, each with its cursor (errors point at one item).
    std::vector<Cursor> items() const {
        if (node_.IsScalar()) return {*this};
        if (!node_.IsSequence()) fail("expected a value or a list of values");
        std::vector<Cursor> out;
        for (std::size_t i = 0; i < node_.size(); ++i) out.emplace_back(node_[i], key_ + "[" + std::to_string(i) + "]", *file_);
        return out;
    }
    std::vector<std::string> texts() const {
        std::vector<std::string> out;
        for (const Cursor& item : items()) out.push_back(item.text());
        return out;
    }

private:
    std::string join(const std::string& child) const { return key_.empty() ? child : key_ + "." + child; }

    YAML::Node node_;
    std::string key_;
    const std::string* file_;
    YAML::Mark mark_;
};

void check_identifier(const Cursor& at, const std::string& name, const std::string& what) {
    static const RE2 identifier("[a-z_][a-z0-9_]*");
    if (name.size() > 63 || !RE2::FullMatch(name, identifier))
        at.fail(what + " '" + name + "' must be a lower-case SQL name: a-z, 0-9 and _, not starting with a digit, at most 63 bytes");
}

void check_pointer(const Cursor& at, const std::string& pointer) {
    // RFC 6901: "" or a sequence of "/" reference tokens in which "~" is followed by 0 or 1.
    if (pointer.empty() || pointer[0] != '/') at.fail("JSON pointer '" + pointer + "' must start with '/' (RFC 6901), e.g. /event_id");
    for (std::size_t i = 0; i < pointer.size(); ++i)
        if (pointer[i] == '~' && (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')))
            at.fail("JSON pointer '" + pointer + "': '~' must be followed by 0 or 1 (RFC 6901 escapes ~0 and ~1)");
}

std::int64_t duration_us(const Cursor& at) {
    const std::string v = at.text();
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    const std::string unit(end, v.data() + v.size());
    static const std::map<std::string, std::int64_t> units = {{"ms", kMillisecondUs}, {"s", kSecondUs}, {"m", kMinuteUs}, {"h", kHourUs}, {"d", kDayUs}};
    const auto u = units.find(unit);
    if (ec != std::errc() || n < 0 || u == units.end()) at.fail("expected a duration such as 500ms, 30s, 5m, 1h or 1d, got '" + v + "'");
    return n * u->second;
}

/// The option called `name`; fails at `at` listing the options.
template <typename Enum>
Enum lookup(const Cursor& at, const std::string& name, const std::vector<std::pair<std::string, Enum>>& options, const std::string& what = "value") {
    std::string list;
    for (const auto& [option, value] : options) {
        if (option == name) return value;
        list += (list.empty() ? "" : ", ") + option;
    }
    at.fail("unknown " + what + " '" + name + "' (expected one of: " + list + ")");
}

template <typename Enum>
Enum choice(const Cursor& at, const std::vector<std::pair<std::string, Enum>>& options) { return lookup(at, at.text(), options); }

/// A reference's column name: its last segment.
std::string column_of(const std::string& ref) { return ref.substr(ref.find('.') + 1); }

bool numeric(FieldType t) { return t == FieldType::integer || t == FieldType::numeric || t == FieldType::double_precision; }

class SpecParser {
public:
    SpecParser(const std::string& yaml, const std::string& file) : file_(file) {
        try {
            root_ = YAML::Load(yaml);
        } catch (const YAML::ParserException& e) {
            throw SpecError(file, e.mark.line + 1, e.mark.column + 1, "(yaml)", e.msg);
        }
    }

    PipelineSpec parse() {
        const Cursor root(root_, "", file_);
        if (root_.IsNull()) root.fail("the file is empty: a pipeline spec needs pipeline, source, fields, event and tables");
        const auto top = root.entries({"pipeline", "source", "fields", "event", "enrichers", "dimensions", "facts", "windows"});
        const Cursor& name = root.need(top, "pipeline");
        spec_.name = name.text();
        spec_.lines["pipeline"] = name.line();
        check_identifier(name, spec_.name, "pipeline name");
        spec_.file = file_;
        parse_source(root.need(top, "source"));
        parse_fields(root.need(top, "fields"));
        parse_event(root.need(top, "event"));
        if (const Cursor* c = Cursor::find(top, "enrichers")) parse_enrichers(*c);
        if (const Cursor* c = Cursor::find(top, "dimensions")) parse_dimensions(*c);
        if (const Cursor* c = Cursor::find(top, "facts")) parse_facts(*c);
        if (const Cursor* c = Cursor::find(top, "windows")) parse_windows(*c);
        if (spec_.facts.empty() && spec_.windows.empty()) root.fail("the spec writes no fact table and no window table: add facts or windows");
        return std::move(spec_);
    }

private:
    void parse_source(const Cursor& at) {
        const auto e = at.entries({"topics", "format"});
        spec_.lines["source.topics"] = at.need(e, "topics").line();
        for (const Cursor& topic : at.need(e, "topics").items()) {
            static const RE2 kafka_topic("[A-Za-z0-9._-]{1,249}");
            if (!RE2::FullMatch(topic.text(), kafka_topic)) topic.fail("'" + topic.text() + "' is not a Kafka topic name (A-Z, a-z, 0-9, '.', '_', '-')");
            spec_.topics.push_back(topic.text());
        }
        if (const Cursor* f = Cursor::find(e, "format"); f && f->text() != "json") f->fail("unknown format '" + f->text() + "' (expected json)");
    }

    void parse_fields(const Cursor& at) {
        for (const auto& [name, c] : at.entries()) {
            check_identifier(c, name, "field name");
            FieldSpec f;
            f.name = name;
            const auto e = c.entries({"pointer", "type", "required", "range", "one_of", "pattern", "max_length", "unit", "format"});
            const Cursor& pointer = c.need(e, "pointer");
            f.pointer = pointer.text();
            check_pointer(pointer, f.pointer);
            const Cursor& type = c.need(e, "type");
            f.type = choice<FieldType>(type, {{"text", FieldType::text}, {"integer", FieldType::integer}, {"numeric", FieldType::numeric},
                                              {"double", FieldType::double_precision}, {"boolean", FieldType::boolean}, {"uuid", FieldType::uuid},
                                              {"inet", FieldType::inet}, {"jsonb", FieldType::jsonb}, {"timestamp", FieldType::timestamp}});
            if (const Cursor* r = Cursor::find(e, "required")) f.required = r->boolean();
            if (const Cursor* r = Cursor::find(e, "range")) parse_range(*r, f);
            if (const Cursor* r = Cursor::find(e, "one_of")) f.one_of = r->texts();
            if (const Cursor* r = Cursor::find(e, "pattern")) {
                f.pattern = r->text();
                const RE2 compiled(f.pattern, RE2::Quiet);
                if (!compiled.ok()) r->fail("pattern does not compile (RE2 syntax): " + compiled.error());
            }
            if (const Cursor* r = Cursor::find(e, "max_length")) {
                const double n = r->number();
                if (n < 1 || n != static_cast<double>(static_cast<std::size_t>(n))) r->fail("max_length must be a positive whole number of bytes");
                f.max_length = static_cast<std::size_t>(n);
            }
            parse_timestamp_encoding(c, e, f);
            if ((!f.one_of.empty() || !f.pattern.empty() || f.max_length) && f.type != FieldType::text)
                c.fail("one_of, pattern and max_length apply to text fields; '" + name + "' is not text");
            if (find_field(name)) c.fail("field '" + name + "' is given twice");
            spec_.fields.push_back(std::move(f));
        }
        if (spec_.fields.empty()) at.fail("a spec needs at least one field");
    }

    static void parse_range(const Cursor& r, FieldSpec& f) {
        if (!numeric(f.type)) r.fail("range applies to integer, numeric and double fields");
        const auto bounds = r.items();
        if (!r.is_sequence() || bounds.size() != 2) r.fail("range is [min, max]");
        f.min = bounds[0].number(), f.max = bounds[1].number();
        if (*f.min > *f.max) r.fail("range minimum is above its maximum");
    }

    static void parse_timestamp_encoding(const Cursor& c, const std::vector<std::pair<std::string, Cursor>>& e, FieldSpec& f) {
        const Cursor* unit = Cursor::find(e, "unit");
        const Cursor* format = Cursor::find(e, "format");
        if ((unit || format) && f.type != FieldType::timestamp) c.fail("unit and format apply to timestamp fields");
        if (unit && format) c.fail("a timestamp has either a unit (epoch number) or a format (text), not both");
        using Kind = TimestampEncoding::Kind;
        if (unit) f.timestamp.kind = choice<Kind>(*unit, {{"s", Kind::epoch_s}, {"ms", Kind::epoch_ms}, {"us", Kind::epoch_us}});
        if (format && format->text() != "iso8601") {
            if (format->text().find('%') == std::string::npos) format->fail("format is iso8601 or a strftime pattern such as '%Y-%m-%d %H:%M:%S UTC'");
            f.timestamp = {Kind::format, format->text()};
        }
    }

    void parse_event(const Cursor& at) {
        const auto e = at.entries({"id", "time"});
        for (const Cursor& id : at.need(e, "id").items()) {
            const FieldSpec* f = find_field(id.text());
            if (!f) id.fail("event id '" + id.text() + "' is not a field");
            spec_.event.id.push_back(f->name);
        }
        const Cursor& time = at.need(e, "time");
        const FieldSpec* f = find_field(time.text());
        if (!f) time.fail("event time '" + time.text() + "' is not a field");
        if (f->type != FieldType::timestamp) time.fail("event time '" + time.text() + "' must be a timestamp field");
        spec_.event.time = f->name;
    }

    void parse_enrichers(const Cursor& at) {
        for (const auto& [name, c] : at.entries()) {
            check_identifier(c, name, "enricher name");
            if (find_field(name)) c.fail("enricher '" + name + "' has the name of a field");
            const auto e = c.entries({"function", "input"});
            const Cursor& function = c.need(e, "function");
            const EnricherFunction* fn = find_enricher(function.text());
            if (!fn) function.fail("unknown enricher function '" + function.text() + "' (expected one of: " + enricher_names() + ")");
            EnricherSpec spec{name, function.text(), {}};
            const Cursor& input = c.need(e, "input");
            for (const Cursor& ref : input.items()) spec.inputs.push_back(reference(ref));
            if (spec.inputs.size() != fn->inputs.size()) {
                std::string wanted;
                for (auto w : fn->inputs) wanted += (wanted.empty() ? "" : ", ") + std::string(w);
                input.fail(function.text() + " takes " + std::to_string(fn->inputs.size()) + " input(s): " + wanted);
            }
            spec_.enrichers.push_back(std::move(spec));
        }
    }

    void parse_dimensions(const Cursor& at) {
        for (const auto& [table, c] : at.entries()) {
            claim_table(c, table);
            DimensionSpec d;
            d.table = table;
            const auto e = c.entries({"key", "attributes", "policy"});
            for (const Cursor& ref : c.need(e, "key").items()) d.key.push_back(reference(ref));
            if (const Cursor* a = Cursor::find(e, "attributes"))
                for (const Cursor& ref : a->items()) d.attributes.push_back(reference(ref));
            if (const Cursor* p = Cursor::find(e, "policy"))
                d.policy = choice<DimensionPolicy>(*p, {{"scd1", DimensionPolicy::scd1}, {"scd2", DimensionPolicy::scd2}, {"earliest", DimensionPolicy::earliest}});
            if (d.policy == DimensionPolicy::scd2 && d.attributes.empty()) c.fail("an SCD type 2 dimension needs attributes whose changes make versions");
            check_columns(c, {d.key, d.attributes});
            spec_.dimensions.push_back(std::move(d));
        }
    }

    void parse_facts(const Cursor& at) {
        for (const auto& [table, c] : at.entries()) {
            claim_table(c, table);
            FactSpec f;
            f.table = table;
            const auto e = c.entries({"grain", "dimensions", "columns"});
            if (const Cursor* g = Cursor::find(e, "grain"); g && !(g->is_scalar() && g->text() == "event"))
                for (const Cursor& ref : g->items()) f.grain.push_back(reference(ref));
            if (const Cursor* d = Cursor::find(e, "dimensions"))
                for (const Cursor& dim : d->items()) f.dimensions.push_back(dimension(dim));
            for (const Cursor& ref : c.need(e, "columns").items()) f.columns.push_back(reference(ref));
            check_columns(c, {f.columns});
            spec_.facts.push_back(std::move(f));
        }
    }

    void parse_windows(const Cursor& at) {
        for (const auto& [table, c] : at.entries()) {
            claim_table(c, table);
            WindowTableSpec w;
            w.table = table;
            const auto e = c.entries({"tumbling", "hopping", "cumulative", "session", "where", "group_by", "aggregates", "late"});
            parse_window_shape(c, e, w);
            if (const Cursor* f = Cursor::find(e, "where")) w.where = filter(*f);
            if (const Cursor* g = Cursor::find(e, "group_by"))
                for (const Cursor& ref : g->items()) w.group_by.push_back(spec_.dimension(ref.text()) ? ref.text() : reference(ref));
            for (const auto& [column, a] : c.need(e, "aggregates").entries()) {
                check_identifier(a, column, "aggregate column");
                w.aggregates.push_back(aggregate(a, column));
            }
            if (w.aggregates.empty()) c.fail("a window table needs at least one aggregate");
            if (const Cursor* l = Cursor::find(e, "late")) parse_late(*l, w);
            spec_.windows.push_back(std::move(w));
        }
    }

    void parse_window_shape(const Cursor& c, const std::vector<std::pair<std::string, Cursor>>& e, WindowTableSpec& w) {
        int shapes = 0;
        for (const char* kind : {"tumbling", "hopping", "cumulative", "session"}) shapes += Cursor::find(e, kind) != nullptr;
        if (shapes != 1) c.fail("a window table has exactly one of tumbling, hopping, cumulative or session");
        engine::WindowSpec engine_spec;
        const Cursor* at = nullptr;
        if ((at = Cursor::find(e, "tumbling"))) {
            w.kind = WindowKind::tumbling, w.size_us = duration_us(*at);
            engine_spec = {engine::WindowKind::tumbling, w.size_us, w.size_us, 0};
        } else if ((at = Cursor::find(e, "hopping"))) {
            const auto h = at->entries({"size", "slide"});
            w.kind = WindowKind::hopping, w.size_us = duration_us(at->need(h, "size")), w.slide_us = duration_us(at->need(h, "slide"));
            engine_spec = {engine::WindowKind::hopping, w.size_us, w.slide_us, 0};
        } else if ((at = Cursor::find(e, "cumulative"))) {
            const auto h = at->entries({"size", "step"});
            w.kind = WindowKind::cumulative, w.size_us = duration_us(at->need(h, "size")), w.slide_us = duration_us(at->need(h, "step"));
            engine_spec = {engine::WindowKind::cumulative, w.size_us, w.slide_us, 0};
        } else {
            at = Cursor::find(e, "session");
            const auto s = at->entries({"gap", "key"});
            w.kind = WindowKind::session, w.gap_us = duration_us(at->need(s, "gap")), w.session_key = reference(at->need(s, "key"));
            engine_spec = {engine::WindowKind::session, 0, 0, w.gap_us};
        }
        try {
            engine_spec.validate();  // the engine's rules are the only rules
        } catch (const std::invalid_argument& error) {
            at->fail(error.what());
        }
    }

    AggregateSpec aggregate(const Cursor& at, const std::string& column) {
        using F = AggregateFunction;
        const std::vector<std::pair<std::string, F>> functions = {{"count", F::count}, {"sum", F::sum}, {"min", F::min}, {"max", F::max}, {"avg", F::avg},
                                                                 {"count_distinct", F::count_distinct}, {"first", F::first}, {"last", F::last}, {"any", F::any}};
        AggregateSpec a;
        a.column = column;
        std::optional<Cursor> of_at;
        if (at.is_scalar()) {  // "count" or "sum(price)"
            static const RE2 call(R"(([a-z_]+)(?:\((.*)\))?)");
            std::string fn, arg;
            if (!RE2::FullMatch(at.text(), call, &fn, &arg)) at.fail("expected an aggregate such as count, sum(price) or count_distinct(user_id)");
            a.function = lookup(at, fn, functions, "aggregate function");
            a.of = arg;
            of_at = at;
        } else {
            const auto e = at.entries({"function", "of", "where"});
            a.function = lookup(at.need(e, "function"), at.need(e, "function").text(), functions, "aggregate function");
            if (const Cursor* o = Cursor::find(e, "of")) a.of = o->text(), of_at = *o;
            if (const Cursor* w = Cursor::find(e, "where")) a.where = filter(*w);
        }
        const bool needs_argument = a.function != F::count && a.function != F::any;
        if (needs_argument && a.of.empty()) at.fail("this aggregate needs what it aggregates, e.g. sum(price)");
        if (!needs_argument && !a.of.empty()) at.fail("count and any take no argument (filter with where:)");
        if (!a.of.empty()) {
            a.of = reference(*of_at, a.of);
            const FieldSpec* f = find_field(a.of);
            const bool arithmetic = a.function == F::sum || a.function == F::avg;
            if (arithmetic && (!f || !numeric(f->type))) at.fail("sum and avg need an integer, numeric or double field, not '" + a.of + "'");
        }
        return a;
    }

    void parse_late(const Cursor& at, WindowTableSpec& w) {
        const auto e = at.entries({"policy", "allowed_lateness"});
        w.late = choice<LatePolicy>(at.need(e, "policy"), {{"drop", LatePolicy::drop}, {"dead_letter", LatePolicy::dead_letter}, {"correct", LatePolicy::correct}});
        if (const Cursor* a = Cursor::find(e, "allowed_lateness")) {
            if (w.late != LatePolicy::correct) a->fail("allowed_lateness applies to policy correct");
            w.allowed_lateness_us = duration_us(*a);
        }
    }

    Filter filter(const Cursor& at) {
        Filter out;
        for (const auto& [ref, values] : at.entries()) out[reference(values, ref)] = values.texts();
        return out;
    }

    /// A field name or "<enricher>.<output>"; fails naming the reference otherwise.
    std::string reference(const Cursor& at) { return reference(at, at.text()); }
    std::string reference(const Cursor& at, const std::string& ref) {
        if (find_field(ref)) return ref;
        const auto dot = ref.find('.');
        if (dot != std::string::npos) {
            const std::string enricher = ref.substr(0, dot), output = ref.substr(dot + 1);
            for (const auto& e : spec_.enrichers)
                if (e.name == enricher) {
                    const auto& outputs = find_enricher(e.function)->outputs;
                    if (std::find(outputs.begin(), outputs.end(), output) != outputs.end()) return ref;
                    std::string list;
                    for (auto o : outputs) list += (list.empty() ? "" : ", ") + std::string(o);
                    at.fail("enricher '" + enricher + "' (" + e.function + ") has no output '" + output + "' (it has: " + list + ")");
                }
            at.fail("'" + ref + "' names no enricher declared above under enrichers");
        }
        at.fail("'" + ref + "' is not a field of this spec");
    }

    std::string dimension(const Cursor& at) {
        if (!spec_.dimension(at.text())) at.fail("'" + at.text() + "' is not a dimension of this spec");
        return at.text();
    }

    void claim_table(const Cursor& at, const std::string& table) {
        check_identifier(at, table, "table name");
        if (!tables_.insert(table).second) at.fail("table '" + table + "' is defined twice in this spec");
        spec_.lines[table] = at.line();
    }

    /// Column names (a reference's last segment) are unique within a table.
    static void check_columns(const Cursor& at, const std::vector<std::vector<std::string>>& groups) {
        std::set<std::string> columns;
        for (const auto& group : groups)
            for (const auto& ref : group) {
                const std::string column = column_of(ref);
                if (!columns.insert(column).second) at.fail("two references make the column '" + column + "'");
            }
    }

    const FieldSpec* find_field(const std::string& name) const { return spec_.field(name); }

    std::string file_;
    YAML::Node root_;
    PipelineSpec spec_;
    std::set<std::string> tables_;
};

std::vector<std::string> columns_of(const std::vector<std::string>& refs) {
    std::vector<std::string> out;
    for (const auto& r : refs) out.push_back(column_of(r));
    return out;
}

/// Same table shape: key and attribute columns, and policy (enricher names are each spec's own).
bool same_dimension(const DimensionSpec& a, const DimensionSpec& b) {
    return columns_of(a.key) == columns_of(b.key) && columns_of(a.attributes) == columns_of(b.attributes) && a.policy == b.policy;
}

}  // namespace

SpecError::SpecError(std::string file, int line, int column, std::string key, const std::string& message)
    : std::runtime_error((line > 0 ? file + ":" + std::to_string(line) + ":" + std::to_string(column) : file) + ": " + key + ": " + message),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

const FieldSpec* PipelineSpec::field(const std::string& field_name) const {
    for (const auto& f : fields)
        if (f.name == field_name) return &f;
    return nullptr;
}

const DimensionSpec* PipelineSpec::dimension(const std::string& table) const {
    for (const auto& d : dimensions)
        if (d.table == table) return &d;
    return nullptr;
}

std::vector<std::string> PipelineSpec::tables() const {
    std::vector<std::string> out;
    for (const auto& d : dimensions) out.push_back(d.table);
    for (const auto& f : facts) out.push_back(f.table);
    for (const auto& w : windows) out.push_back(w.table);
    return out;
}

PipelineSpec parse_pipeline_spec(const std::string& yaml, const std::string& file) { return SpecParser(yaml, file).parse(); }

PipelineSpec read_pipeline_spec(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw SpecError(path, 0, 0, "(file)", "cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_pipeline_spec(text.str(), path);
}

std::vector<PipelineSpec> read_pipeline_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw SpecError(dir, 0, 0, "pipelines.dir", "is not a folder");
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_regular_file() && (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml")) paths.push_back(entry.path().string());
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) throw SpecError(dir, 0, 0, "pipelines.dir", "holds no pipeline spec (*.yaml)");

    std::vector<PipelineSpec> specs;
    std::map<std::string, const PipelineSpec*> names, topics;
    std::map<std::string, std::pair<const PipelineSpec*, const DimensionSpec*>> tables;
    for (const auto& path : paths) specs.push_back(read_pipeline_spec(path));
    for (const auto& spec : specs) {
        auto clash = [&](const std::string& at, const std::string& key, const std::string& message) {
            throw SpecError(spec.file, spec.lines.count(at) ? spec.lines.at(at) : 1, 1, key, message);
        };
        if (auto [it, fresh] = names.emplace(spec.name, &spec); !fresh)
            clash("pipeline", "pipeline", "pipeline '" + spec.name + "' is also defined in " + it->second->file);
        for (const auto& t : spec.topics)
            if (auto [it, fresh] = topics.emplace(t, &spec); !fresh)
                clash("source.topics", "source.topics", "topic '" + t + "' is already consumed by " + it->second->file);
        for (const auto& table : spec.tables()) {
            const DimensionSpec* dim = spec.dimension(table);
            auto [it, fresh] = tables.emplace(table, std::make_pair(&spec, dim));
            if (fresh) continue;
            // A conformed dimension (dim_date, dim_customer...) may serve several pipelines.
            if (dim && it->second.second && same_dimension(*dim, *it->second.second)) continue;
            clash(table, table, "table '" + table + "' is also defined in " + it->second.first->file +
                             (dim && it->second.second ? " with another key, attributes or policy" : ""));
        }
    }
    return specs;
}

}  // namespace starstream::daemon::spec
