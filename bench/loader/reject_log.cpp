#include "reject_log.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace starstream::bench::loader {

RejectLog::RejectLog(std::string path) : path_(std::move(path)), out_(path_, std::ios::binary | std::ios::trunc) {
    if (!out_) throw std::runtime_error(path_ + ": cannot write the reject file");
}

void RejectLog::write(const std::string& file, const SourceRecord& record, const Reject& reject) {
    const nlohmann::ordered_json line = {{"file", file}, {"line", record.line}, {"reason", to_string(reject.reason)},
                                         {"detail", reject.detail}, {"record", record.raw}};
    out_ << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    if (!out_) throw std::runtime_error(path_ + ": cannot write the reject file");
}

void RejectLog::close() {
    out_.close();
    if (!out_) throw std::runtime_error(path_ + ": cannot finish writing the reject file");
}

}  // namespace starstream::bench::loader
