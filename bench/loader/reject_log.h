// The reject file: one JSON object a line per record the loader did not send, so that a bad
// row is never lost and can be fixed and loaded again:
//   {"file": "events.csv", "line": 17, "reason": "negative_price",
//    "detail": "price -3.00 is negative", "record": "<the record's text as in the file>"}
// `line` is the 1-based physical line where the record starts; `reason` is a RejectReason
// name (commerce_row.h). Bytes that are not UTF-8 in `record` are written as U+FFFD.
// The file is created (truncated) when the log opens, so a clean load leaves an empty file
// rather than an older run's rejects. Thread rules: one thread.
#pragma once

#include "commerce_row.h"

#include <fstream>
#include <string>

namespace starstream::bench::loader {

class RejectLog {
public:
    /// Throws std::runtime_error when `path` cannot be written.
    explicit RejectLog(std::string path);
    void write(const std::string& file, const SourceRecord& record, const Reject& reject);
    /// Flushes and closes; throws std::runtime_error on a write error.
    void close();
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::ofstream out_;
};

}  // namespace starstream::bench::loader
