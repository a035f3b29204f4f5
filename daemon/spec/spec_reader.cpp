#include "spec/spec_reader.h"

#include "spec/enricher_catalog.h"
#include "spec/record_filters.h"
#include "spec/table_schema.h"
#include "window/window_spec.h"

#include <fmt/format.h>
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace starstream::daemon::spec {

namespace {

constexpr std::int64_t kMillisecondUs = 1000, kSecondUs = 1000 * kMillisecondUs, kMinuteUs = 60 * kSecondUs, kHourUs = 60 * kMinuteUs,
                       kDayUs = 24 * kHourUs;
/// Longest duration a spec may give (windows, gaps, lateness): far beyond any use, far below overflow.
constexpr std::int64_t kMaxDurationUs = 3660 * kDayUs;

template <typename Items>
std::string joined(const Items& items) {
    return fmt::format("{}", fmt::join(items, ", "));
}

/// A YAML node with the dotted key that leads to it, so that every error names file, line and key.
class Cursor {
public:
    /// `mark`: where errors about the value point (an empty value has no position of its own);
    /// `key_mark`: where errors about the key itself point (a name, a table defined twice).
    Cursor(YAML::Node node, std::string key, const std::string& file, std::optional<YAML::Mark> mark = std::nullopt,
           std::optional<YAML::Mark> key_mark = std::nullopt)
        : node_(std::move(node)), key_(std::move(key)), file_(&file), mark_(mark.value_or(node_.Mark())), key_mark_(key_mark.value_or(mark_)) {}

    [[noreturn]] void fail(const std::string& message) const { fail_at(mark_, message); }
    [[noreturn]] void fail_at_key(const std::string& message) const { fail_at(key_mark_, message); }
    const std::string& key() const { return key_; }
    int key_line() const { return key_mark_.line + 1; }
    int line() const { return mark_.line + 1; }
    int column() const { return mark_.column + 1; }
    bool is_scalar() const { return node_.IsScalar(); }
    bool is_mapping() const { return node_.IsMap(); }

    /// The entries of a mapping in file order, refusing keys outside `allowed` (unless empty),
    /// keys that are not plain names, and keys given twice.
    std::vector<std::pair<std::string, Cursor>> entries(const std::set<std::string>& allowed = {}) const {
        if (!node_.IsMap()) fail("expected a mapping (key: value lines)");
        std::vector<std::pair<std::string, Cursor>> out;
        std::set<std::string> seen;
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            if (!it->first.IsScalar() || it->first.Scalar().empty())
                Cursor(it->first, key_, *file_).fail("a key must be a plain name, not a list, a mapping or null");
            const std::string name = it->first.Scalar();
            const Cursor key_cursor(it->first, join(name), *file_);
            if (!allowed.empty() && !allowed.count(name))
                key_cursor.fail("unknown key '" + name + "' (expected one of: " + joined(allowed) + ")");
            if (!seen.insert(name).second) key_cursor.fail("'" + name + "' is given twice");
            const bool empty = it->second.IsNull() || it->second.Mark().line < 0;
            out.emplace_back(name, Cursor(it->second, key_cursor.key_, *file_, empty ? it->first.Mark() : it->second.Mark(), it->first.Mark()));
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
        fail_at_key("missing key '" + join(name) + "'");
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
    /// A finite number.
    double number() const {
        const std::string v = text();
        double out = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(out)) fail("expected a finite number, got '" + v + "'");
        return out;
    }
    /// A scalar or a non-empty sequence, each item with its cursor; with `distinct`, no scalar
    /// value twice.
    std::vector<Cursor> items(bool distinct = true) const {
        std::vector<Cursor> out;
        if (node_.IsScalar()) return {*this};
        if (!node_.IsSequence()) fail("expected a value or a list of values");
        if (node_.size() == 0) fail("an empty list: give at least one value");
        std::set<std::string> seen;
        for (std::size_t i = 0; i < node_.size(); ++i) {
            out.emplace_back(node_[i], key_ + "[" + std::to_string(i) + "]", *file_);
            if (distinct && out.back().is_scalar() && !seen.insert(out.back().text()).second) out.back().fail("'" + out.back().text() + "' is listed twice");
        }
        return out;
    }
    std::vector<std::string> texts() const {
        std::vector<std::string> out;
        for (const Cursor& item : items()) out.push_back(item.text());
        return out;
    }

private:
    [[noreturn]] void fail_at(const YAML::Mark& mark, const std::string& message) const {
        throw SpecError(*file_, mark.line + 1, mark.column + 1, key_.empty() ? "(top level)" : key_, message);
    }
    std::string join(const std::string& child) const { return key_.empty() ? child : key_ + "." + child; }

    YAML::Node node_;
    std::string key_;
    const std::string* file_;
    YAML::Mark mark_, key_mark_;
};

/// A plain lower-case SQL name: a-z, 0-9 and _, not starting with a digit, at most 63 bytes.
bool is_sql_name(const std::string& name) {
    static const RE2 identifier("[a-z_][a-z0-9_]{0,62}");
    return RE2::FullMatch(name, identifier);
}

std::string not_a_sql_name(const std::string& what, const std::string& name) {
    return what + " '" + name + "' must be a lower-case SQL name: a-z, 0-9 and _, not starting with a digit, at most 63 bytes";
}

/// Fails at the key whose name `name` is, unless it is a plain lower-case SQL name.
void check_name(const Cursor& at, const std::string& name, const std::string& what) {
    if (!is_sql_name(name)) at.fail_at_key(not_a_sql_name(what, name));
}

void check_pointer(const Cursor& at, const std::string& pointer) {
    // RFC 6901 also allows "" (the whole document), which is never a field: refused here.
    if (pointer.empty() || pointer[0] != '/') at.fail("JSON pointer '" + pointer + "' must start with '/' (RFC 6901), e.g. /event_id");
    for (std::size_t i = 0; i < pointer.size(); ++i) {
        if (pointer[i] == '~' && (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')))
            at.fail("JSON pointer '" + pointer + "': '~' must be followed by 0 or 1 (RFC 6901 escapes ~0 and ~1)");
        if (static_cast<unsigned char>(pointer[i]) < 0x20) at.fail("JSON pointer '" + pointer + "' holds a control character");
    }
}

/// "500ms", "30s", "5m", "1h", "1d" in microseconds, at most kMaxDurationUs.
std::int64_t duration_us(const Cursor& at) {
    const std::string v = at.text();
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    const std::string unit(end, v.data() + v.size());
    static const std::map<std::string, std::int64_t> units = {{"ms", kMillisecondUs}, {"s", kSecondUs}, {"m", kMinuteUs}, {"h", kHourUs}, {"d", kDayUs}};
    const auto u = units.find(unit);
    if (ec != std::errc() || n < 0 || u == units.end()) at.fail("expected a duration such as 500ms, 30s, 5m, 1h or 1d, got '" + v + "'");
    if (n > kMaxDurationUs / u->second) at.fail("duration '" + v + "' is longer than " + std::to_string(kMaxDurationUs / kDayUs) + "d");
    return n * u->second;
}

/// The option called `name`; fails at `at` listing the options.
template <typename Enum>
Enum lookup(const Cursor& at, const std::string& name, const std::vector<std::pair<std::string, Enum>>& options, const std::string& what = "value") {
    std::vector<std::string> names;
    for (const auto& [option, value] : options) {
        if (option == name) return value;
        names.push_back(option);
    }
    at.fail("unknown " + what + " '" + name + "' (expected one of: " + joined(names) + ")");
}

template <typename Enum>
Enum choice(const Cursor& at, const std::vector<std::pair<std::string, Enum>>& options) { return lookup(at, at.text(), options); }

bool numeric(FieldType t) { return t == FieldType::integer || t == FieldType::numeric || t == FieldType::double_precision; }

class SpecParser {
public:
    SpecParser(const std::string& yaml, const std::string& file) : file_(file) {
        std::vector<YAML::Node> documents;
        try {
            documents = YAML::LoadAll(yaml);
        } catch (const YAML::ParserException& e) {
            throw SpecError(file, e.mark.line + 1, e.mark.column + 1, "(yaml)", e.msg);
        }
        if (documents.size() > 1) Cursor(documents[1], "(yaml)", file_).fail("a spec file holds one YAML document; this is a second (after ---)");
        if (!documents.empty()) root_ = documents[0];
    }

    PipelineSpec parse() {
        const Cursor root(root_, "", file_);
        if (!root_.IsDefined() || root_.IsNull()) throw SpecError(file_, 1, 1, "(top level)", "no spec: a pipeline spec needs pipeline, source, fields, event and tables");
        const auto top = root.entries({"pipeline", "source", "fields", "event", "enrichers", "dimensions", "facts", "windows"});
        const Cursor& name = root.need(top, "pipeline");
        spec_.name = name.text();
        if (!is_sql_name(spec_.name)) name.fail(not_a_sql_name("pipeline name", spec_.name));
        spec_.lines[PipelineSpec::kPipelineLine] = name.key_line();
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
        const Cursor& topics = at.need(e, "topics");
        spec_.lines[PipelineSpec::kTopicsLine] = topics.key_line();
        for (const Cursor& topic : topics.items()) {
            static const RE2 kafka_topic("[A-Za-z0-9._-]{1,249}");
            if (!RE2::FullMatch(topic.text(), kafka_topic) || topic.text() == "." || topic.text() == "..")
                topic.fail("'" + topic.text() + "' is not a Kafka topic name (A-Z, a-z, 0-9, '.', '_', '-'; not . or ..)");
            spec_.topics.push_back(topic.text());
        }
        if (const Cursor* f = Cursor::find(e, "format"); f && f->text() != "json") f->fail("unknown format '" + f->text() + "' (expected json)");
    }

    void parse_fields(const Cursor& at) {
        for (const auto& [name, c] : at.entries()) {
            check_name(c, name, "field name");
            FieldSpec f;
            f.name = name;
            const auto e = c.entries({"pointer", "type", "required", "range", "one_of", "pattern", "max_length", "unit", "format", "only_with", "map",
                                      "default", "invalid"});
            const Cursor& pointers = c.need(e, "pointer");
            if (pointers.is_scalar()) {
                f.pointer = pointers.text();
                check_pointer(pointers, f.pointer);
            } else {
                for (const Cursor& item : pointers.items()) f.sources.push_back(field_source(item));
                f.pointer = f.sources.front().pointer;
            }
            if (const Cursor* w = Cursor::find(e, "only_with")) {
                f.only_with = w->text();
                check_pointer(*w, f.only_with);
            }
            f.type = choice<FieldType>(c.need(e, "type"), {{"text", FieldType::text}, {"integer", FieldType::integer}, {"numeric", FieldType::numeric},
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
                const std::string v = r->text();
                std::size_t n = 0;
                const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (ec != std::errc() || end != v.data() + v.size() || n == 0) r->fail("max_length must be a positive whole number of bytes, got '" + v + "'");
                f.max_length = n;
            }
            parse_timestamp_encoding(c, e, f);
            if ((!f.one_of.empty() || !f.pattern.empty() || f.max_length) && f.type != FieldType::text)
                c.fail("one_of, pattern and max_length apply to text fields; '" + name + "' is not text");
            if (const Cursor* d = Cursor::find(e, "default")) {
                if (f.type != FieldType::text) d->fail("default applies to text fields; '" + name + "' is not text");
                if (f.required) d->fail("a required field has no default: a message without it is a dead letter");
                f.default_value = d->text();
            }
            if (const Cursor* i = Cursor::find(e, "invalid"))
                f.invalid_is_no_value = choice<bool>(*i, {{"dead_letter", false}, {"no_value", true}});
            if (f.invalid_is_no_value && f.required) c.fail("invalid: no_value would leave a required field without a value");
            if (const Cursor* m = Cursor::find(e, "map")) {
                if (f.type != FieldType::text) m->fail("map applies to text fields; '" + name + "' is not text");
                for (const auto& [from, to] : m->entries()) f.value_map[from] = to.text();
                if (f.value_map.empty()) m->fail("an empty map: give at least one 'value: replacement' entry");
            }
            if (f.default_value) check_default(*Cursor::find(e, "default"), f);
            spec_.fields.push_back(std::move(f));
        }
        if (spec_.fields.empty()) at.fail("a spec needs at least one field");
    }

    /// The decoder applies a field's rules and map to its default as to any value (a default is
    /// what the message said): one they refuse would make every message without the field a
    /// dead letter blaming the message, and one the map lacks would silently become no value.
    static void check_default(const Cursor& d, const FieldSpec& f) {
        const std::string& v = *f.default_value;
        if (!f.one_of.empty() && std::find(f.one_of.begin(), f.one_of.end(), v) == f.one_of.end())
            d.fail("default '" + v + "' is not one of the field's one_of values");
        if (!f.pattern.empty() && !RE2::FullMatch(v, RE2(f.pattern, RE2::Quiet))) d.fail("default '" + v + "' does not match the field's pattern");
        if (f.max_length && v.size() > *f.max_length) d.fail("default '" + v + "' is longer than the field's max_length");
        if (!f.value_map.empty() && !f.value_map.count(v)) d.fail("default '" + v + "' is not a value the field's map lists (it would become no value)");
    }

    /// A pointer list's item: "/p" or {pointer: /p, if: {/q: value or [values], ...}}.
    static FieldSource field_source(const Cursor& item) {
        FieldSource source;
        if (item.is_scalar()) {
            source.pointer = item.text();
            check_pointer(item, source.pointer);
            return source;
        }
        const auto e = item.entries({"pointer", "if"});
        const Cursor& pointer = item.need(e, "pointer");
        source.pointer = pointer.text();
        check_pointer(pointer, source.pointer);
        if (const Cursor* when = Cursor::find(e, "if")) {
            for (const auto& [at, values] : when->entries()) {
                check_pointer(values, at);
                source.conditions.emplace_back(at, values.texts());
            }
            if (source.conditions.empty()) when->fail("an empty condition: give at least one '/pointer: value' entry");
        }
        return source;
    }

    static void parse_range(const Cursor& r, FieldSpec& f) {
        if (!numeric(f.type)) r.fail("range applies to integer, numeric and double fields");
        const auto bounds = r.items(false);
        if (r.is_scalar() || bounds.size() != 2) r.fail("range is [min, max]");
        f.min = bounds[0].number(), f.max = bounds[1].number();
        if (*f.min > *f.max) r.fail("range minimum is above its maximum");
        // Whole bounds an int64 holds exactly (2^53): a rounded bound would move the rule.
        constexpr double kExact = 9007199254740992.0;
        if (f.type == FieldType::integer)
            for (const auto& b : bounds)
                if (b.number() != std::trunc(b.number()) || std::abs(b.number()) > kExact) b.fail("an integer field's range takes whole numbers within +-2^53");
    }

    static void parse_timestamp_encoding(const Cursor& c, const std::vector<std::pair<std::string, Cursor>>& e, FieldSpec& f) {
        const Cursor* unit = Cursor::find(e, "unit");
        const Cursor* format = Cursor::find(e, "format");
        if ((unit || format) && f.type != FieldType::timestamp) c.fail("unit and format apply to timestamp fields");
        if (unit && format) c.fail("a timestamp has either a unit (epoch number) or a format (text), not both");
        using Kind = TimestampEncoding::Kind;
        if (unit) f.timestamp.kind = choice<Kind>(*unit, {{"s", Kind::epoch_s}, {"ms", Kind::epoch_ms}, {"us", Kind::epoch_us}});
        if (format && format->text() != "iso8601") {
            // Only conversions date::parse reads strictly: %p is ignored, %Z read and dropped,
            // %j wraps out-of-range days (an adversarial review found each giving wrong times).
            static const RE2 pattern("(?:[^%]|%[YmdHMSFTz%])*");
            if (!RE2::FullMatch(format->text(), pattern))
                format->fail("format is iso8601 or a pattern of %Y %m %d %H %M %S %F %T %z and literal text, e.g. '%Y-%m-%d %H:%M:%S UTC'");
            // A time needs a whole date: date::parse fails every text of a format without one.
            std::set<char> conversions;  // "%%" is a literal percent sign, not a conversion
            for (std::size_t i = 0; i + 1 < format->text().size(); ++i)
                if (format->text()[i] == '%') conversions.insert(format->text()[++i]);
            auto has = [&](char c) { return conversions.count(c) > 0; };
            if (!has('F') && !(has('Y') && has('m') && has('d')))
                format->fail("format names no whole date (%F, or %Y, %m and %d): no text could be read as a time");
            f.timestamp = {Kind::format, format->text()};
        }
    }

    void parse_event(const Cursor& at) {
        const auto e = at.entries({"id", "time"});
        const Cursor& id = at.need(e, "id");
        if (id.is_mapping()) parse_content_id(id);
        else
            for (const Cursor& item : id.items()) spec_.event.id.push_back(required_field(item, "event id")->name);
        const Cursor& time = at.need(e, "time");
        const FieldSpec* f = required_field(time, "event time");
        if (f->type != FieldType::timestamp) time.fail("event time '" + time.text() + "' must be a timestamp field");
        spec_.event.time = f->name;
    }

    /// `id: {name: event_key, hash: [timestamp, user_id, ...]}`: a uuid field derived from the
    /// listed fields' typed values (content_id.h), the event id. Its inputs may be optional (a
    /// missing value hashes as ""), so a producer's id field needs no place in it.
    void parse_content_id(const Cursor& at) {
        const auto e = at.entries({"name", "hash"});
        const Cursor& name = at.need(e, "name");
        check_name(name, name.text(), "event id name");
        if (spec_.field(name.text())) name.fail("event id '" + name.text() + "' has the name of a field: the hash makes a field of its own");
        FieldSpec f;
        f.name = name.text();
        f.type = FieldType::uuid;
        f.required = true;
        for (const Cursor& item : at.need(e, "hash").items()) {
            const FieldSpec* input = spec_.field(item.text());
            if (!input) item.fail("event id hash: '" + item.text() + "' is not a field");
            f.hash_of.push_back(std::size_t(input - spec_.fields.data()));
        }
        if (f.hash_of.empty()) at.fail("event id hash: list the fields whose values make an event, e.g. hash: [timestamp, user_id]");
        spec_.fields.push_back(std::move(f));
        spec_.event.id.push_back(name.text());
    }

    /// The field `at` names, which must be required: an event without it has no identity or time.
    const FieldSpec* required_field(const Cursor& at, const std::string& what) {
        const FieldSpec* f = spec_.field(at.text());
        if (!f) at.fail(what + " '" + at.text() + "' is not a field");
        if (!f->required) at.fail(what + " '" + at.text() + "' must be a required field (required: true)");
        return f;
    }

    void parse_enrichers(const Cursor& at) {
        for (const auto& [name, c] : at.entries()) {
            check_name(c, name, "enricher name");
            if (spec_.field(name)) c.fail_at_key("enricher '" + name + "' has the name of a field");
            const auto e = c.entries({"function", "input"});
            const Cursor& function = c.need(e, "function");
            const EnricherFunction* fn = find_enricher(function.text());
            if (!fn) function.fail("unknown enricher function '" + function.text() + "' (expected one of: " + enricher_names() + ")");
            EnricherSpec spec{name, function.text(), {}};
            const Cursor* input = Cursor::find(e, "input");
            if (fn->inputs.empty() && input) input->fail(function.text() + " takes no input");
            if (!fn->inputs.empty() && !input) c.need(e, "input");
            const auto refs = input ? input->items(false) : std::vector<Cursor>{};
            if (refs.size() != fn->inputs.size())
                input->fail(function.text() + " takes " + std::to_string(fn->inputs.size()) + " input(s): " + joined(fn->inputs));
            for (const Cursor& ref : refs) {
                spec.inputs.push_back(reference(ref));
                const FieldSpec* f = spec_.field(spec.inputs.back());
                const bool is_time = f && f->type == FieldType::timestamp;
                if (fn->time_input != is_time)
                    ref.fail(function.text() + " takes " + (fn->time_input ? "a timestamp field" : "text (a field or an enricher output), not a timestamp"));
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
            for (const Cursor& item : c.need(e, "key").items()) d.key.push_back(column(item));
            if (const Cursor* a = Cursor::find(e, "attributes"))
                for (const Cursor& item : a->items()) d.attributes.push_back(column(item));
            if (const Cursor* p = Cursor::find(e, "policy"))
                d.policy = choice<DimensionPolicy>(*p, {{"scd1", DimensionPolicy::scd1}, {"scd0", DimensionPolicy::scd0}, {"derived", DimensionPolicy::derived},
                                                       {"scd2", DimensionPolicy::scd2},
                                                       {"earliest", DimensionPolicy::earliest}});
            if (d.policy == DimensionPolicy::scd2 && d.attributes.empty()) c.fail("an SCD type 2 dimension needs attributes whose changes make versions");
            // PostgreSQL cuts names at 63 bytes without an error: two long dimensions (or one of
            // 63 bytes and its own table) would share one observation table.
            if (d.policy == DimensionPolicy::scd2 && !is_sql_name(scd2_observation_table(table)))
                c.fail("the observation table '" + scd2_observation_table(table) + "' of this SCD type 2 dimension would be longer than 63 bytes: shorten the dimension's name");
            // A single key column named like the surrogate key is that key (dim_date's date_key).
            std::set<std::string> reserved = {"valid_from", "valid_to", "is_current"};
            if (!(d.key.size() == 1 && d.key[0].name == surrogate_key_column(table))) reserved.insert(surrogate_key_column(table));
            if (d.policy == DimensionPolicy::earliest)
                for (const auto& column : earliest_state_columns(d)) reserved.insert(column);
            for (const auto& column : scd1_state_columns(d)) reserved.insert(column);
            check_columns(c, {names(d.key), names(d.attributes)}, reserved);
            spec_.dimensions.push_back(std::move(d));
        }
    }

    void parse_facts(const Cursor& at) {
        for (const auto& [table, c] : at.entries()) {
            claim_table(c, table);
            FactSpec f;
            f.table = table;
            const auto e = c.entries({"grain", "dimensions", "columns"});
            if (const Cursor* g = Cursor::find(e, "grain")) {
                if (g->is_scalar() && g->text() == "event") {
                    if (spec_.field("event")) g->fail("'event' is both the event grain and a field: rename the field");
                } else {
                    for (const Cursor& ref : g->items()) f.grain.push_back(reference(ref));
                }
            }
            std::vector<std::string> key_columns;
            if (const Cursor* d = Cursor::find(e, "dimensions"))
                for (const Cursor& dim : d->items()) f.dimensions.push_back(dimension(dim)), key_columns.push_back(surrogate_key_column(f.dimensions.back()));
            for (const Cursor& item : c.need(e, "columns").items()) f.columns.push_back(column(item));
            check_columns(c, {names(f.columns), key_columns}, {});
            check_grain_held(Cursor::find(e, "grain") ? *Cursor::find(e, "grain") : c, f);
            spec_.facts.push_back(std::move(f));
        }
    }

    /// The grain is the fact table's primary key (table_schema.h), so a column must hold each of
    /// its references (grain event: each event id field).
    void check_grain_held(const Cursor& at, const FactSpec& f) const {
        for (const auto& ref : f.grain.empty() ? spec_.event.id : f.grain) {
            bool held = false;
            for (const auto& c : f.columns) held = held || c.ref == ref;
            if (!held)
                at.fail("the grain's '" + ref + "' is in no column of the fact, whose primary key it makes: add it to columns, e.g. columns: [" + ref + ", ...]");
        }
    }

    void parse_windows(const Cursor& at) {
        for (const auto& [table, c] : at.entries()) {
            claim_table(c, table);
            WindowTableSpec w;
            w.table = table;
            const auto e = c.entries({"tumbling", "hopping", "cumulative", "session", "global", "bounds", "where", "group_by", "aggregates", "late",
                                      "view", "derived", "segments"});
            parse_window_shape(c, e, w);
            if (const Cursor* b = Cursor::find(e, "bounds")) {  // [start column, end column]
                if (w.kind == WindowKind::global) b->fail("a global window has no bounds: it is one row per group for all time");
                const auto both = b->items();
                if (b->is_scalar() || both.size() != 2) b->fail("bounds is [start column, end column], e.g. [visit_start, visit_end]");
                for (const Cursor& name : both) check_name(name, name.text(), "bound column");
                w.start_column = both[0].text(), w.end_column = both[1].text();
            }
            if (const Cursor* f = Cursor::find(e, "where")) w.where = filter(*f);
            std::vector<std::string> key_columns;
            if (const Cursor* g = Cursor::find(e, "group_by"))
                for (const Cursor& ref : g->items()) {
                    w.group_by.push_back(group_key(ref));
                    key_columns.push_back(spec_.dimension(w.group_by.back()) ? surrogate_key_column(w.group_by.back()) : column_name_of(w.group_by.back()));
                }
            if (!w.session_key.empty()) key_columns.push_back(column_name_of(w.session_key));
            std::vector<std::string> aggregate_columns;
            for (const auto& [column, a] : c.need(e, "aggregates").entries()) {
                check_name(a, column, "aggregate column");
                w.aggregates.push_back(aggregate(a, column));
                aggregate_columns.push_back(column);
            }
            if (w.aggregates.empty()) c.fail("a window table needs at least one aggregate");
            if (w.kind == WindowKind::global && w.group_by.empty())
                c.fail("a global window needs group_by: its rows are named by their group keys (one row per group for all time)");
            std::set<std::string> kept;  // the bounds and the aggregates' state columns
            if (w.kind != WindowKind::global) kept = {w.start_column, w.end_column};
            if (w.kind == WindowKind::session) kept.insert(kSessionLastEventTime);  // a session's merge state (table_schema.h)
            for (const auto& a : w.aggregates)
            {
                for (auto& state : aggregate_state_columns(w, a)) {
                    if (!is_sql_name(state)) c.fail("the state column '" + state + "' of aggregate " + a.column + " would be longer than 63 bytes: shorten the aggregate's name");
                    kept.insert(std::move(state));
                }
                check_side_table(c, w, a);
            }
            check_columns(c, {key_columns, aggregate_columns}, kept);
            if (const Cursor* l = Cursor::find(e, "late")) {
                if (w.kind == WindowKind::global) l->fail("a global window never ends, so no record is late for it: remove late");
                parse_late(*l, w);
            }
            parse_view(c, e, w, {key_columns, aggregate_columns, std::vector<std::string>(kept.begin(), kept.end())});
            spec_.windows.push_back(std::move(w));
            // The stage marks each record with one bit per filter (record_filters.h).
            if (distinct_window_filters(spec_).size() > RecordFilters::kMaxFilters)
                c.fail(fmt::format("the spec's windows and their aggregates have more than {} distinct where filters: share filters between tables",
                                   RecordFilters::kMaxFilters));
        }
    }

    /// PostgreSQL cuts names at 63 bytes without an error, so two long side-table names could
    /// become one table: refuse a count_distinct or mode whose side table would be cut.
    static void check_side_table(const Cursor& c, const WindowTableSpec& w, const AggregateSpec& a) {
        std::string side;
        if (a.function == AggregateFunction::count_distinct) side = distinct_member_table(w, a);
        if (a.function == AggregateFunction::mode) side = mode_count_table(w, a);
        if (!side.empty() && !is_sql_name(side))
            c.fail("the side table '" + side + "' of aggregate " + a.column + " would be longer than 63 bytes: shorten the table's or the aggregate's name");
    }

    void parse_window_shape(const Cursor& c, const std::vector<std::pair<std::string, Cursor>>& e, WindowTableSpec& w) {
        const Cursor* tumbling = Cursor::find(e, "tumbling");
        const Cursor* hopping = Cursor::find(e, "hopping");
        const Cursor* cumulative = Cursor::find(e, "cumulative");
        const Cursor* session = Cursor::find(e, "session");
        const Cursor* global = Cursor::find(e, "global");
        if ((tumbling != nullptr) + (hopping != nullptr) + (cumulative != nullptr) + (session != nullptr) + (global != nullptr) != 1)
            c.fail("a window table has exactly one of tumbling, hopping, cumulative, session or global");
        if (global) {
            if (!global->boolean()) global->fail("global: true makes a global window (one row per group for all time); leave it out otherwise");
            w.kind = WindowKind::global;
            return;
        }
        const Cursor* at = tumbling ? tumbling : hopping ? hopping : cumulative ? cumulative : session;
        engine::WindowSpec engine_spec;
        if (tumbling) {
            w.kind = WindowKind::tumbling, w.size_us = duration_us(*at);
            engine_spec = {engine::WindowKind::tumbling, w.size_us, w.size_us, 0};
        } else if (session) {
            const auto s = at->entries({"gap", "key"});
            w.kind = WindowKind::session, w.gap_us = duration_us(at->need(s, "gap")), w.session_key = reference(at->need(s, "key"));
            engine_spec = {engine::WindowKind::session, 0, 0, w.gap_us};
        } else {  // hopping {size, slide} or cumulative {size, step}
            const char* step = hopping ? "slide" : "step";
            const auto h = at->entries({"size", step});
            w.kind = hopping ? WindowKind::hopping : WindowKind::cumulative;
            w.size_us = duration_us(at->need(h, "size")), w.slide_us = duration_us(at->need(h, step));
            engine_spec = {hopping ? engine::WindowKind::hopping : engine::WindowKind::cumulative, w.size_us, w.slide_us, 0};
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
                                                                 {"count_distinct", F::count_distinct}, {"first", F::first}, {"last", F::last}, {"any", F::any},
                                                                 {"mode", F::mode}};
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
            const Cursor& function = at.need(e, "function");
            a.function = lookup(function, function.text(), functions, "aggregate function");
            if (const Cursor* o = Cursor::find(e, "of")) a.of = o->text(), of_at = *o;
            if (const Cursor* w = Cursor::find(e, "where")) a.where = filter(*w);
        }
        const bool needs_argument = a.function != F::count && a.function != F::any;
        if (needs_argument && a.of.empty()) at.fail("this aggregate needs what it aggregates, e.g. sum(price)");
        if (!needs_argument && !a.of.empty()) at.fail("count and any take no argument (filter with where:)");
        if (!a.of.empty()) {
            a.of = reference(*of_at, a.of);
            const FieldSpec* f = spec_.field(a.of);
            const bool arithmetic = a.function == F::sum || a.function == F::avg;
            if (arithmetic && (!f || !numeric(f->type))) at.fail("sum and avg need an integer, numeric or double field, not '" + a.of + "'");
        }
        return a;
    }

    /// view, derived and segments: the view over the window table (pipeline_spec.h WindowViewSpec).
    /// `columns`: the table's column names (key, aggregates, kept), which derived columns must not take.
    void parse_view(const Cursor& c, const std::vector<std::pair<std::string, Cursor>>& e, WindowTableSpec& w,
                    const std::vector<std::vector<std::string>>& columns) {
        const Cursor* view = Cursor::find(e, "view");
        const Cursor* derived = Cursor::find(e, "derived");
        const Cursor* segments = Cursor::find(e, "segments");
        if (!view && !derived && !segments) return;
        if (!view) c.fail("derived and segments make a view over the table: name it with view: <name>");
        if (!derived && !segments) view->fail("a view needs derived columns or segments");
        w.view.name = view->text();
        claim_table(*view, w.view.name);
        w.view.line = view->key_line();
        std::vector<std::string> added;
        if (derived)
            for (const auto& [name, expression] : derived->entries()) {
                check_name(expression, name, "derived column");
                w.view.derived.push_back({name, sql_expression(expression), expression.line(), expression.column()});
                added.push_back(name);
            }
        if (segments) {
            const auto s = segments->entries({"column", "rules"});
            const Cursor& column = segments->need(s, "column");
            check_name(column, column.text(), "segment column");
            w.view.segment_column = column.text();
            added.push_back(w.view.segment_column);
            std::set<std::string> names;
            const auto rules = segments->need(s, "rules").items(false);
            for (std::size_t i = 0; i < rules.size(); ++i) {
                const auto r = rules[i].entries({"name", "when"});
                const Cursor& name = rules[i].need(r, "name");
                if (!names.insert(name.text()).second) name.fail("segment '" + name.text() + "' is named twice");
                SegmentRule rule{name.text(), {}, rules[i].line(), rules[i].column()};
                if (const Cursor* when = Cursor::find(r, "when")) {
                    rule.when = sql_expression(*when);
                    rule.line = when->line(), rule.column = when->column();
                } else if (i + 1 != rules.size()) {
                    rules[i].fail("only the last rule may leave out when (it takes every row no rule before it took)");
                }
                w.view.segments.push_back(std::move(rule));
            }
        }
        auto all = columns;
        all.push_back(added);
        check_columns(c, all, {});
    }

    /// A PostgreSQL expression, checked here only for what would make it more than one
    /// expression; PostgreSQL checks the rest when the view is made (spec_migrator.h).
    static std::string sql_expression(const Cursor& at) {
        const std::string v = at.text();
        if (v.find_first_not_of(" \t") == std::string::npos) at.fail("an empty expression");
        if (v.find(';') != std::string::npos) at.fail("an expression holds no ';' (it is one SQL expression, not statements)");
        if (v.find("--") != std::string::npos || v.find("/*") != std::string::npos) at.fail("an expression holds no SQL comment (-- or /*)");
        // Balanced outside quotes: the expression stays one operand of the view's select list.
        int depth = 0;
        char quote = 0;
        for (char ch : v) {
            if (quote) {
                quote = ch == quote ? 0 : quote;
            } else if (ch == '\'' || ch == '"') {
                quote = ch;
            } else {
                depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
                if (depth < 0) break;
            }
        }
        if (depth != 0 || quote) at.fail("unbalanced parentheses or quotes in '" + v + "'");
        return v;
    }

    void parse_late(const Cursor& at, WindowTableSpec& w) {
        const auto e = at.entries({"policy", "allowed_lateness"});
        w.late = choice<LatePolicy>(at.need(e, "policy"), {{"drop", LatePolicy::drop}, {"dead_letter", LatePolicy::dead_letter}, {"correct", LatePolicy::correct}});
        if (const Cursor* a = Cursor::find(e, "allowed_lateness")) {
            if (w.late != LatePolicy::correct) a->fail("allowed_lateness applies to policy correct");
            w.allowed_lateness_us = duration_us(*a);
        }
    }

    /// `reference: value or [values]` lines; each value must be one the field can hold.
    Filter filter(const Cursor& at) {
        Filter out;
        for (const auto& [ref, values] : at.entries()) {
            const std::string resolved = reference(values, ref);
            const FieldSpec* f = spec_.field(resolved);
            if (!values.is_scalar() && values.is_mapping()) {  // {present: true}: any value, none refused
                const auto e = values.entries({"present"});
                const Cursor* present = Cursor::find(e, "present");
                if (!present || !present->boolean())
                    values.fail("expected a value, a list of values or {present: true} (a record without a value never passes a filter)");
                out[resolved];
                continue;
            }
            for (const Cursor& v : values.items()) {
                if (f && numeric(f->type)) v.number();
                if (f && f->type == FieldType::boolean) v.boolean();
                if (f && !f->value_map.empty()) {
                    // A mapped field holds the map's values, whatever one_of says of the message's.
                    std::set<std::string> mapped;
                    for (const auto& [from, to] : f->value_map) mapped.insert(to);
                    if (!mapped.count(v.text()))
                        v.fail("'" + v.text() + "' is not a value field '" + f->name + "' maps to (" + joined(mapped) + "): nothing would match");
                } else if (f && !f->one_of.empty() && std::find(f->one_of.begin(), f->one_of.end(), v.text()) == f->one_of.end()) {
                    v.fail("'" + v.text() + "' is not one of the values field '" + f->name + "' allows (" + joined(f->one_of) + "): nothing would match");
                }
                out[resolved].push_back(v.text());
            }
        }
        return out;
    }

    /// A field name or "<enricher>.<output>"; fails naming the reference otherwise.
    std::string reference(const Cursor& at) { return reference(at, at.text()); }
    std::string reference(const Cursor& at, const std::string& ref) {
        if (spec_.field(ref)) return ref;
        const auto dot = ref.find('.');
        if (dot == std::string::npos) at.fail("'" + ref + "' is not a field or enricher output of this spec");
        const std::string enricher = ref.substr(0, dot), output = ref.substr(dot + 1);
        for (const auto& e : spec_.enrichers) {
            if (e.name != enricher) continue;
            const EnricherFunction* fn = find_enricher(e.function);  // checked when the enricher was read
            if (find_output(*fn, output)) return ref;
            at.fail("enricher '" + enricher + "' (" + e.function + ") has no output '" + output + "' (it has: " + output_names(*fn) + ")");
        }
        at.fail("'" + ref + "' names no enricher declared above under enrichers");
    }

    /// A column: "ref" (named after the reference) or "{name: ref}".
    Column column(const Cursor& at) {
        if (at.is_scalar()) {
            const std::string ref = reference(at);
            return {column_name_of(ref), ref};
        }
        const auto e = at.entries();
        if (e.size() != 1) at.fail("a column is a reference or {column name: reference}");
        check_name(e[0].second, e[0].first, "column name");
        return {e[0].first, reference(e[0].second)};
    }

    static std::vector<std::string> names(const std::vector<Column>& columns) {
        std::vector<std::string> out;
        for (const auto& c : columns) out.push_back(c.name);
        return out;
    }

    /// A dimension table of this spec or a reference (group keys).
    std::string group_key(const Cursor& at) {
        const bool is_dimension = spec_.dimension(at.text()) != nullptr;
        if (is_dimension && spec_.field(at.text())) at.fail("'" + at.text() + "' is both a dimension and a field: rename one");
        if (is_dimension) return at.text();
        if (spec_.field(at.text()) || at.text().find('.') != std::string::npos) return reference(at);
        at.fail("'" + at.text() + "' is not a field, enricher output or dimension of this spec");
    }

    std::string dimension(const Cursor& at) {
        if (!spec_.dimension(at.text())) at.fail("'" + at.text() + "' is not a dimension of this spec");
        return at.text();
    }

    void claim_table(const Cursor& at, const std::string& table) {
        check_name(at, table, "table name");
        if (!tables_.insert(table).second) at.fail_at_key("table '" + table + "' is defined twice in this spec");
        spec_.lines[table] = at.key_line();
    }

    /// Column names are unique within a table and none takes a name the table keeps for itself.
    static void check_columns(const Cursor& at, const std::vector<std::vector<std::string>>& groups, const std::set<std::string>& reserved) {
        std::set<std::string> columns;
        for (const auto& group : groups)
            for (const auto& column : group) {
                if (reserved.count(column)) at.fail("the column '" + column + "' is one the table keeps for itself (" + joined(reserved) + ")");
                if (!columns.insert(column).second) at.fail("two references make the column '" + column + "'");
            }
    }

    std::string file_;
    YAML::Node root_;
    PipelineSpec spec_;
    std::set<std::string> tables_;
};

/// What a reference holds, beyond its column name: a field's type, an enricher output's function.
std::string signature(const PipelineSpec& spec, const std::string& ref) {
    if (const FieldSpec* f = spec.field(ref)) return "field of type " + std::to_string(static_cast<int>(f->type));
    for (const auto& e : spec.enrichers)
        if (ref.rfind(e.name + ".", 0) == 0) return e.function + "." + column_name_of(ref);
    return ref;
}

/// Same table: key and attribute columns holding the same things, and the same policy.
bool same_dimension(const PipelineSpec& a_spec, const DimensionSpec& a, const PipelineSpec& b_spec, const DimensionSpec& b) {
    auto shape = [](const PipelineSpec& spec, const std::vector<Column>& columns) {
        std::vector<std::string> out;
        for (const auto& c : columns) out.push_back(c.name + " " + signature(spec, c.ref));
        return out;
    };
    return shape(a_spec, a.key) == shape(b_spec, b.key) && shape(a_spec, a.attributes) == shape(b_spec, b.attributes) && a.policy == b.policy;
}

/// The spec files of `dir`, sorted: *.yaml and *.yml (any case); anything else so named is an error.
std::vector<std::string> spec_files(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw SpecError(dir, 0, 0, "pipelines.dir", "is not a folder");
    std::vector<std::string> paths;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        std::string extension = it->path().extension().string();
        std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (extension != ".yaml" && extension != ".yml") continue;
        std::error_code type_ec;
        if (!fs::is_regular_file(it->path(), type_ec)) throw SpecError(it->path().string(), 0, 0, "pipelines.dir", "is not a readable spec file (a folder, or a broken or looping link)");
        paths.push_back(it->path().string());
    }
    if (ec) throw SpecError(dir, 0, 0, "pipelines.dir", "cannot be listed: " + ec.message());
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) throw SpecError(dir, 0, 0, "pipelines.dir", "holds no pipeline spec (*.yaml, *.yml)");
    return paths;
}

}  // namespace

SpecError::SpecError(std::string file, int line, int column, std::string key, const std::string& message)
    : std::runtime_error((line > 0 ? file + ":" + std::to_string(line) + ":" + std::to_string(column) : file) + ": " + key + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)) {}

PipelineSpec parse_pipeline_spec(const std::string& yaml, const std::string& file) { return SpecParser(yaml, file).parse(); }

PipelineSpec read_pipeline_spec(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) throw SpecError(path, 0, 0, "(file)", "cannot be read");
    return parse_pipeline_spec(text.str(), path);
}

std::vector<PipelineSpec> read_pipeline_folder(const std::string& dir) {
    std::vector<PipelineSpec> specs;
    for (const auto& path : spec_files(dir)) specs.push_back(read_pipeline_spec(path));
    std::map<std::string, const PipelineSpec*> names, topics;
    std::map<std::string, std::pair<const PipelineSpec*, const DimensionSpec*>> tables;
    for (const auto& spec : specs) {
        auto clash = [&](const std::string& line_of, const std::string& key, const std::string& message) {
            throw SpecError(spec.file, spec.lines.count(line_of) ? spec.lines.at(line_of) : 1, 1, key, message);
        };
        if (auto [it, fresh] = names.emplace(spec.name, &spec); !fresh)
            clash(PipelineSpec::kPipelineLine, "pipeline", "pipeline '" + spec.name + "' is also defined in " + it->second->file);
        for (const auto& t : spec.topics)
            if (auto [it, fresh] = topics.emplace(t, &spec); !fresh)
                clash(PipelineSpec::kTopicsLine, "source.topics", "topic '" + t + "' is already consumed by " + it->second->file);
        for (const auto& table : spec.tables()) {
            const DimensionSpec* dim = spec.dimension(table);
            auto [it, fresh] = tables.emplace(table, std::make_pair(&spec, dim));
            if (fresh) continue;
            // A conformed dimension (dim_date, dim_customer...) may serve several pipelines.
            const auto& [other_spec, other_dim] = it->second;
            if (dim && other_dim && same_dimension(spec, *dim, *other_spec, *other_dim)) continue;
            clash(table, table, "table '" + table + "' is also defined in " + other_spec->file + (dim && other_dim ? " with other key, attributes or policy" : ""));
        }
        // A window's view shares the tables' names: the migration would drop another's view, or fail on its table.
        for (const auto& w : spec.windows)
            if (!w.view.name.empty())
                if (auto [it, fresh] = tables.emplace(w.view.name, std::make_pair(&spec, nullptr)); !fresh)
                    clash(w.view.name, "windows." + w.table + ".view", "view '" + w.view.name + "' is also a table or view of " + it->second.first->file);
    }
    return specs;
}

}  // namespace starstream::daemon::spec
