// Which librdkafka properties hold secrets, and a redactor that removes their values from any
// text before it is logged or shown: librdkafka prints `sasl.password` and other secrets in
// clear text in its configuration dump (debug=conf) and may quote values in error messages.
// Thread rules: SecretRedactor is immutable after construction; redact() from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace starstream::engine {

/// True for property names whose values are secrets: they contain password, secret, key,
/// token or credential (sasl.password, ssl.key.password, ssl.key.pem,
/// sasl.oauthbearer.client.secret...). Errs on the side of redacting.
bool is_secret_property(std::string_view key);

class SecretRedactor {
public:
    SecretRedactor() = default;
    /// Remembers the values of the secret properties in `properties`.
    explicit SecretRedactor(const std::map<std::string, std::string>& properties);
    /// `text` with every occurrence of a remembered secret replaced by "(redacted)".
    std::string redact(std::string_view text) const;

private:
    std::vector<std::string> secrets_;  ///< longest first, so a secret containing another goes whole
};

}  // namespace starstream::engine
