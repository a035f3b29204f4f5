#include "source/secret_properties.h"

#include <algorithm>

namespace starstream::engine {

bool is_secret_property(std::string_view key) {
    for (std::string_view word : {"password", "secret", "key", "token", "credential"})
        if (key.find(word) != std::string_view::npos) return true;
    return false;
}

SecretRedactor::SecretRedactor(const std::map<std::string, std::string>& properties) {
    for (const auto& [key, value] : properties)
        if (is_secret_property(key) && !value.empty()) secrets_.push_back(value);
    std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string SecretRedactor::redact(std::string_view text) const {
    std::string out(text);
    for (const auto& secret : secrets_)
        for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 10))
            out.replace(at, secret.size(), "(redacted)");
    return out;
}

}  // namespace starstream::engine
