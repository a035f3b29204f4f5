// A spec record's values as text in PostgreSQL's input syntax: what a surrogate key hashes
// (member_keys.h, on the poll thread) and what the sink stages, as spec pipelines stage their
// values as text and cast them in SQL to their column's type, so a value Postgres refuses is a
// data error pinned to its record (bisection), and one staging path serves every type. (Values
// whose binary form cannot be refused skip the text: surrogate keys, and fact columns that
// encode exactly, spec_fact_writer.h.)
// Pure; any thread.
#pragma once

#include "spec/record_decoder.h"

#include <optional>
#include <string>
#include <vector>

namespace starstream::daemon::spec {

/// `value` in PostgreSQL input syntax for a column of `type` (information_schema's name);
/// nullopt for null. Timestamps (Unix microseconds) become "YYYY-MM-DD HH:MM:SS.ffffff+00",
/// doubles keep 17 significant digits, booleans are "t"/"f".
std::optional<std::string> input_text(const FieldValue& value, const std::string& type);

/// input_text without copying a text value (the hot path: every staged value of every record):
/// a view of the value's own text (valid while its arena keeps it: its batch lives), else of `buffer`, which holds the
/// value formatted (valid until `buffer` changes); nullopt for null.
std::optional<std::string_view> input_view(const FieldValue& value, const std::string& type, std::string& buffer);

/// Several values as one key text: a single part as it is; several joined with '|' as the
/// compiled pipeline joins them ("country|region|city"), a '|' or '\\' inside a part escaped
/// with '\\', so that two different keys never join alike ("a|b", "c" against "a", "b|c").
std::string joined_key(const std::vector<std::string>& parts);

}  // namespace starstream::daemon::spec
