#include "sink/postgres/spec_fact_writer.h"

#include "enrichment/geo_locator.h"
#include "spec/uuid_text.h"
#include "sink/postgres/held_keys.h"
#include "sink/postgres/spec_ddl.h"
#include "sink/postgres/table_columns.h"
#include "sink/postgres/temp_table_name.h"
#include "spec/value_text.h"
#include "spec/table_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <set>
#include <functional>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <iterator>

namespace starstream::daemon::postgres {

using spec::input_view;

SpecFactWriter::SpecFactWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout,
                               const spec::FactSpec& f, const std::vector<std::string>& dimensions)
    : conn_(conn), copy_(copy), table_(f.table), stage_table_(temp_table_name("stage_spec", f.table)) {
    for (const auto& d : f.dimensions) {
        const auto at = std::find(dimensions.begin(), dimensions.end(), d);
        if (at != dimensions.end()) columns_.push_back({spec::surrogate_key_column(d), "bigint", static_cast<std::size_t>(at - dimensions.begin()), true});
    }
    for (const auto& c : f.columns) columns_.push_back({c.name, spec::reference_type(spec, c.ref), layout.at(c.ref), false});
    std::vector<std::string> names;
    for (const auto& c : columns_) names.push_back(sql_identifier(c.name));
    for (const auto& t : spec::table_schemas(spec))
        if (t.table == f.table)
            for (const auto& k : t.primary_key) {
                const auto c = std::find_if(columns_.begin(), columns_.end(), [&](const Column& x) { return x.name == k; });
                key_.push_back(static_cast<std::size_t>(c - columns_.begin()));
            }
    copy_sql_ = fmt::format("COPY {} ({}) FROM STDIN", sql_identifier(f.table), fmt::join(names, ", "));
    // The columns' types as the database has them (a column may be wider than the spec's type).
    static const std::map<std::string, Binary> forms = {
        {"bigint", Binary::int8}, {"integer", Binary::int4}, {"smallint", Binary::int2}, {"timestamp with time zone", Binary::timestamptz},
        {"text", Binary::text}, {"uuid", Binary::uuid}, {"boolean", Binary::boolean}, {"double precision", Binary::float8},
        {"jsonb", Binary::jsonb}, {"inet", Binary::inet}};
    // Per column: its type, its collation and whether its equal text values are equal bytes.
    std::map<std::string, DatabaseColumn> database_columns = postgres::database_columns(conn_, sql_identifier(f.table));
    for (auto& c : columns_) {
        const auto form = forms.find(database_columns[c.name].type);
        c.binary = form == forms.end() ? Binary::none : form->second;
        binary_ = binary_ && c.binary != Binary::none;
    }
    // The key staged as the table's own types and collations, so that it is compared as the
    // primary key compares it and probes it without a cast. Equal binary forms are equal values
    // for these types (a float's -0 and 0, or a jsonb's spellings, are not; text only bytewise),
    // so their batch duplicates are dropped here; a key of another type is staged as text and
    // deduplicated by PostgreSQL.
    std::vector<std::string> staged, aliases;
    std::vector<std::pair<std::string, std::string>> probe;
    for (std::size_t i = 0; i < key_.size(); ++i) {
        const Column& c = columns_[key_[i]];
        const DatabaseColumn& d = database_columns[c.name];
        staged.push_back(fmt::format("k{} {}{}", i, d.type, d.collation));
        aliases.push_back(fmt::format("k{}", i));
        probe.push_back({sql_identifier(c.name), fmt::format("s.k{}", i)});
        static const std::set<Binary> exact = {Binary::int8, Binary::int4, Binary::int2, Binary::timestamptz, Binary::uuid, Binary::boolean, Binary::inet};
        key_binary_ = key_binary_ && (exact.count(c.binary) > 0 || (c.binary == Binary::text && d.bytewise));
    }
    conn_.exec(fmt::format("CREATE TEMP TABLE {} (r bigint, {}) ON COMMIT DELETE ROWS", stage_table_, fmt::join(staged, ", ")));
    const std::string held = held_key_probe(sql_identifier(f.table), probe, "held_by");
    held_rows_sql_ = fmt::format("SELECT s.r FROM {} s CROSS JOIN {}", stage_table_, held);
    // The first record of each key, unless the table holds the key already.
    new_rows_sql_ = fmt::format("SELECT s.r FROM (SELECT DISTINCT ON ({0}) r, {0} FROM {1} ORDER BY {0}, r) s\nLEFT JOIN {2} ON true WHERE held_by.held IS NULL",
                                fmt::join(aliases, ", "), stage_table_, held);
}

bool SpecFactWriter::encode(const Column& c, const spec::SpecRow& row, std::size_t at, const std::vector<std::vector<std::int64_t>>& keys) {
    const spec::FieldValue dimension_key = c.dimension && keys[c.index][at] != INT64_MIN ? spec::FieldValue{keys[c.index][at]} : spec::FieldValue{};
    const spec::FieldValue& v = c.dimension ? dimension_key : row.values[c.index];
    if (std::holds_alternative<std::monostate>(v)) return copy_.null(), true;
    const auto* i = std::get_if<std::int64_t>(&v);
    const auto* text = std::get_if<spec::Text>(&v);
    const std::optional<std::string_view> s = text ? std::optional(text->view()) : std::nullopt;
    switch (c.binary) {
        case Binary::int8: return i && (copy_.int8(*i), true);
        case Binary::int4: return i && *i >= INT32_MIN && *i <= INT32_MAX && (copy_.int4(static_cast<std::int32_t>(*i)), true);
        case Binary::int2: return i && *i >= INT16_MIN && *i <= INT16_MAX && (copy_.int2(static_cast<std::int16_t>(*i)), true);
        case Binary::timestamptz: return i && (copy_.timestamptz_us(*i), true);  // the decoder keeps years 1 to 9999
        case Binary::text: return s && (copy_.text(*s), true);
        case Binary::jsonb: return s && (copy_.jsonb(*s), true);
        case Binary::boolean: return std::holds_alternative<bool>(v) && (copy_.boolean(std::get<bool>(v)), true);
        case Binary::float8: return std::holds_alternative<double>(v) && (copy_.float8(std::get<double>(v)), true);
        case Binary::uuid: {
            std::array<std::uint8_t, 16> id{};
            return s && spec::parse_uuid(*s, id) && (copy_.uuid(id), true);
        }
        case Binary::inet: {
            std::array<std::uint8_t, 16> address{};
            const std::uint8_t family = s ? enrichment::parse_ip(*s, address.data()) : 0;
            return family != 0 && (copy_.inet(family, address.data()), true);
        }
        case Binary::none: break;
    }
    return false;
}

std::optional<std::string_view> SpecFactWriter::value(const Column& c, const spec::SpecRow& row, std::size_t at,
                                                      const std::vector<std::vector<std::int64_t>>& keys, std::string& buffer) {
    if (!c.dimension) return input_view(row.values[c.index], c.type, buffer);
    const std::int64_t key = keys[c.index][at];
    if (key == INT64_MIN) return std::nullopt;
    buffer.clear();
    fmt::format_to(std::back_inserter(buffer), "{}", key);
    return std::string_view(buffer);
}

bool SpecFactWriter::new_rows_in_binary(const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                        const std::vector<std::vector<std::int64_t>>& keys, std::vector<bool>& inserted) {
    if (!key_binary_) return false;
    copy_.reset();
    // The keys already staged, as [offset, offset + size) of the stream: the bytes are compared
    // where they were encoded, with no copy per record (offsets stay valid as the stream grows).
    using Staged = std::pair<std::size_t, std::size_t>;
    auto bytes = [this](const Staged& k) { return copy_.since(k.first).substr(0, k.second); };
    auto hash = [&bytes](const Staged& k) { return std::hash<std::string_view>{}(bytes(k)); };
    auto equal = [&bytes](const Staged& a, const Staged& b) { return bytes(a) == bytes(b); };
    std::unordered_set<Staged, decltype(hash), decltype(equal)> seen(2 * (end - begin), hash, equal);
    for (std::size_t r = begin; r < end; ++r) {
        const std::size_t row = copy_.size();
        copy_.begin_row(static_cast<std::int16_t>(1 + key_.size()));
        copy_.int8(static_cast<std::int64_t>(r));
        const std::size_t key = copy_.size();
        for (const std::size_t k : key_)
            if (!encode(columns_[k], batch.rows[r], r - begin, keys)) return false;
        if (seen.insert({key, copy_.size() - key}).second) inserted[r] = true;
        else copy_.drop_row(row);
    }
    if (copy_.rows() == 0) return true;
    conn_.copy_in("COPY " + stage_table_ + " FROM STDIN (FORMAT binary)", copy_.finish());
    const PgResult held = conn_.exec(held_rows_sql_);
    for (int i = 0; i < PQntuples(held.get()); ++i) inserted[static_cast<std::size_t>(std::atoll(PQgetvalue(held.get(), i, 0)))] = false;
    return true;
}

void SpecFactWriter::new_rows_in_text(const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                      const std::vector<std::vector<std::int64_t>>& keys, std::vector<bool>& inserted) {
    std::string buffer;
    text_.reset();
    for (std::size_t r = begin; r < end; ++r) {
        text_.begin_row();
        text_.value(std::to_string(r));
        for (const std::size_t k : key_)
            if (auto v = value(columns_[k], batch.rows[r], r - begin, keys, buffer)) text_.value(*v);
            else text_.null();
    }
    conn_.copy_in("COPY " + stage_table_ + " FROM STDIN", text_.finish());
    const PgResult fresh = conn_.exec(new_rows_sql_);
    for (int i = 0; i < PQntuples(fresh.get()); ++i) inserted[static_cast<std::size_t>(std::atoll(PQgetvalue(fresh.get(), i, 0)))] = true;
}

engine::TableRows SpecFactWriter::write(const spec::SpecBatch& batch, std::size_t begin, std::size_t end,
                                        const std::vector<std::vector<std::int64_t>>& keys, std::vector<bool>& inserted) {
    std::string buffer;
    inserted.assign(batch.rows.size(), false);
    if (!new_rows_in_binary(batch, begin, end, keys, inserted)) {
        inserted.assign(batch.rows.size(), false);
        new_rows_in_text(batch, begin, end, keys, inserted);
    }
    // Binary when every value has its exact binary form (what the text input would read), else text.
    bool binary = binary_;
    std::size_t rows = 0;
    copy_.reset();
    for (std::size_t r = begin; r < end && binary; ++r) {
        if (!inserted[r]) continue;
        copy_.begin_row(static_cast<std::int16_t>(columns_.size())), ++rows;
        for (const auto& c : columns_)
            if (!(binary = encode(c, batch.rows[r], r - begin, keys))) break;
    }
    if (binary) {
        const std::int64_t copied = rows ? conn_.copy_in(copy_sql_ + " (FORMAT binary)", copy_.finish()) : 0;
        return {table_, copied, 0, static_cast<std::int64_t>(end - begin) - copied};
    }
    text_.reset();
    for (std::size_t r = begin; r < end; ++r) {
        if (!inserted[r]) continue;
        text_.begin_row();
        for (const auto& c : columns_)
            if (auto v = value(c, batch.rows[r], r - begin, keys, buffer)) text_.value(*v);
            else text_.null();
    }
    const std::int64_t copied = text_.rows() ? conn_.copy_in(copy_sql_, text_.finish()) : 0;
    return {table_, copied, 0, static_cast<std::int64_t>(end - begin) - copied};
}

}  // namespace starstream::daemon::postgres
