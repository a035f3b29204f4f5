// One fact table of a spec pipeline, written in the batch's transaction (SpecBatchWriter step 2):
//   1. the grain (the table's primary key: the event id, or the fact's grain references) of each
//      record is staged with the record's index, typed (and collated) as the table's key
//      columns: in binary, only the first record of each key, when every key column is of a type
//      whose equal values have equal binary forms (integers, timestamptz, uuid, boolean, inet;
//      text of a deterministic collation, sent without encoding conversion) and every key of the
//      batch has its binary form; else every record, as text;
//   2. one statement reads which records are new: binary, the staged keys the table holds (one
//      primary-key probe per staged key: held_keys.h), the others being new; text, the first of
//      each key within the batch (compared as the column's type: "1.0" and "1" are one numeric)
//      whose key the table does not hold yet;
//   3. the new records' facts are copied straight into the table: binary COPY when every column's
//      type in the database has a binary form here and every value of the batch fits it (an
//      integer within a narrower column, an address inet_pton reads, a UUID), else text COPY
//      (each value read by its column type's input function, text_copy_writer.h), so that a
//      value Postgres refuses is still refused by Postgres and pinned to its record by bisection.
// A record read again (a replay, a duplicate) adds nothing. This is cheaper than staging every
// fact and INSERT ... ON CONFLICT DO NOTHING RETURNING (bench/results.md, issue 14). A key another
// instance writes concurrently makes the COPY fail with a unique violation once it commits: not
// a dead letter (bisection.h tries a unique violation again); the retry reads the key as held.
// Thread rules: the sink thread; the SpecBatchWriter's connection, inside its transaction.
#pragma once

#include "driver/batch_sink.h"
#include "sink/postgres/binary_copy_writer.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/text_copy_writer.h"
#include "spec/enricher_runtime.h"
#include "spec/pipeline_spec.h"
#include "spec/spec_batch.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::daemon::postgres {

class SpecFactWriter {
public:
    /// Creates the key staging table on `conn` for `fact` of `spec`. `dimensions`: the spec's
    /// dimension tables in order (the index a row's keys use). Throws PgError.
    SpecFactWriter(PgConnection& conn, BinaryCopyWriter& copy, const spec::PipelineSpec& spec, const spec::ReferenceLayout& layout,
                   const spec::FactSpec& fact, const std::vector<std::string>& dimensions);

    /// Writes the facts of rows [begin, end) that are new. `keys[d][r - begin]`: row r's key in
    /// dimension d (INT64_MIN: none, NULL in the fact). Sets `inserted` (one per row of the
    /// batch) true for the rows whose fact was new. Returns the table's rows: inserted, and
    /// unchanged (the duplicates). Throws PgError.
    engine::TableRows write(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                            std::vector<bool>& inserted);

    const std::string& table() const { return table_; }

private:
    /// A column's binary COPY form, from its type in the database (none: the table goes as text).
    enum class Binary { none, int8, int4, int2, timestamptz, text, uuid, boolean, float8, jsonb, inet };
    /// A column of the table: a dimension's surrogate key (`index` into the dimensions) or a
    /// reference's value (`index` into a row's values), of PostgreSQL type `type`.
    struct Column {
        std::string name, type;
        std::size_t index = 0;
        bool dimension = false;
        Binary binary = Binary::none;
    };
    /// Steps 1 and 2 in binary: sets `inserted[r]` for the new rows r in [begin, end) (`inserted`
    /// all false on entry). False, having sent nothing, when the key's types or a key value have
    /// no binary form here. Throws PgError.
    bool new_rows_in_binary(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                            std::vector<bool>& inserted);
    /// Steps 1 and 2 in text (any key type; a value its column's input refuses fails the COPY).
    /// Same contract as new_rows_in_binary, without the false.
    void new_rows_in_text(const spec::SpecBatch& batch, std::size_t begin, std::size_t end, const std::vector<std::vector<std::int64_t>>& keys,
                          std::vector<bool>& inserted);
    /// Appends column `c` of row r in binary; false when its value has no exact binary form here.
    bool encode(const Column& c, const spec::SpecRow& row, std::size_t at, const std::vector<std::vector<std::int64_t>>& keys);
    /// Column `c` of row r (at = r - begin) in input syntax (input_view: a view of the row's
    /// value or of `buffer`); nullopt for NULL.
    static std::optional<std::string_view> value(const Column& c, const spec::SpecRow& row, std::size_t at,
                                                 const std::vector<std::vector<std::int64_t>>& keys, std::string& buffer);

    PgConnection& conn_;
    BinaryCopyWriter& copy_;
    TextCopyWriter text_;
    std::string table_, stage_table_;
    std::vector<Column> columns_;  ///< in COPY order: dimension keys, then the fact's columns
    std::vector<std::size_t> key_;  ///< the primary key's columns (indexes into columns_)
    std::string held_rows_sql_, new_rows_sql_, copy_sql_;  ///< step 2 in binary and in text; step 3
    bool binary_ = true;      ///< every column has a binary form
    bool key_binary_ = true;  ///< every key column's binary forms are equal exactly when its values are
};

}  // namespace starstream::daemon::postgres
