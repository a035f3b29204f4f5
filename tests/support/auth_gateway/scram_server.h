// The server side of SCRAM (RFC 5802) with SHA-256 or SHA-512 (RFC 7677), as Kafka brokers run
// it inside SaslAuthenticate, for the test gateway that puts authentication in front of
// librdkafka's mock cluster (issue 6). Hashes, HMAC and PBKDF2 come from OpenSSL.
// Messages are the RFC's: client-first "n,,n=user,r=nonce", server-first "r=...,s=salt,i=4096",
// client-final "c=biws,r=...,p=proof", server-final "v=signature" or "e=invalid-proof".
// Thread rules: one exchange per object; credentials are immutable and shareable.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace starstream::test_support {

enum class ScramHash { sha256, sha512 };

/// What a server stores per user (RFC 5802 section 3): never the password itself.
struct ScramCredential {
    std::string salt;  ///< raw bytes
    int iterations = 4096;
    std::string stored_key, server_key;  ///< raw bytes: H(ClientKey) and HMAC(SaltedPassword, "Server Key")
};

/// Derives the stored credential of `password`. Throws std::runtime_error if OpenSSL fails.
ScramCredential make_scram_credential(ScramHash hash, std::string_view password, std::string_view salt, int iterations);

class ScramServerExchange {
public:
    /// `users` maps user names to credentials; `server_nonce` is appended to the client's nonce
    /// (random in the gateway, fixed in the RFC 7677 test).
    ScramServerExchange(ScramHash hash, const std::map<std::string, ScramCredential>& users, std::string server_nonce);

    /// Takes the client-first message; returns the server-first message, or nullopt when the
    /// message is malformed, asks for channel binding, or names an unknown user (error() says which).
    std::optional<std::string> first(std::string_view client_first);
    /// Takes the client-final message; returns the server-final message ("v=...") when the proof
    /// is right, nullopt otherwise (error() says why; a broker answers "e=invalid-proof").
    std::optional<std::string> final(std::string_view client_final);

    const std::string& user() const { return user_; }
    const std::string& error() const { return error_; }

private:
    std::nullopt_t fail(const char* reason);

    ScramHash hash_;
    const std::map<std::string, ScramCredential>& users_;
    std::string server_nonce_, user_, nonce_, client_first_bare_, server_first_, error_;
    const ScramCredential* credential_ = nullptr;
};

/// Base64 (RFC 4648, with padding) of raw bytes, and back; decode returns nullopt on bad input.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace starstream::test_support
