#include "auth_gateway/scram_server.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <vector>

namespace starstream::test_support {

namespace {

const EVP_MD* digest(ScramHash hash) { return hash == ScramHash::sha256 ? EVP_sha256() : EVP_sha512(); }

std::string hmac(ScramHash hash, std::string_view key, std::string_view message) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(digest(hash), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()), message.size(), out,
              &length))
        throw std::runtime_error("HMAC failed");
    return std::string(reinterpret_cast<char*>(out), length);
}

std::string hash_of(ScramHash hash, std::string_view bytes) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!EVP_Digest(bytes.data(), bytes.size(), out, &length, digest(hash), nullptr)) throw std::runtime_error("digest failed");
    return std::string(reinterpret_cast<char*>(out), length);
}

/// The value of attribute `name` ("r", "s"...) in a comma-separated SCRAM message, if present.
std::optional<std::string> attribute(std::string_view message, char name) {
    std::size_t at = 0;
    while (at <= message.size()) {
        const std::size_t end = std::min(message.find(',', at), message.size());
        const std::string_view part = message.substr(at, end - at);
        if (part.size() >= 2 && part[0] == name && part[1] == '=') return std::string(part.substr(2));
        at = end + 1;
    }
    return std::nullopt;
}

/// A SCRAM user name as sent ("=2C" is ',' and "=3D" is '='; RFC 5802 section 5.1).
std::string decode_name(std::string_view sent) {
    std::string name;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        if (sent.substr(i, 3) == "=2C") name += ',', i += 2;
        else if (sent.substr(i, 3) == "=3D") name += '=', i += 2;
        else name += sent[i];
    }
    return name;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::vector<unsigned char> out(4 * ((bytes.size() + 2) / 3) + 1);
    const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    return std::string(reinterpret_cast<char*>(out.data()), static_cast<std::size_t>(n));
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::vector<unsigned char> out(3 * text.size() / 4 + 1);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    std::size_t length = static_cast<std::size_t>(n);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --length;  // EVP_DecodeBlock counts padding as zero bytes
    return std::string(reinterpret_cast<char*>(out.data()), length);
}

ScramCredential make_scram_credential(ScramHash hash, std::string_view password, std::string_view salt, int iterations) {
    const int size = EVP_MD_get_size(digest(hash));
    std::string salted(static_cast<std::size_t>(size), '\0');
    if (!PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                           static_cast<int>(salt.size()), iterations, digest(hash), size, reinterpret_cast<unsigned char*>(salted.data())))
        throw std::runtime_error("PBKDF2 failed");
    return {std::string(salt), iterations, hash_of(hash, hmac(hash, salted, "Client Key")), hmac(hash, salted, "Server Key")};
}

std::nullopt_t ScramServerExchange::fail(const char* reason) {
    error_ = reason;
    return std::nullopt;
}

ScramServerExchange::ScramServerExchange(ScramHash hash, const std::map<std::string, ScramCredential>& users, std::string server_nonce)
    : hash_(hash), users_(users), server_nonce_(std::move(server_nonce)) {}

std::optional<std::string> ScramServerExchange::first(std::string_view client_first) {
    // gs2 header: "n,," (no channel binding) or "y,,"; an authzid between the commas is ignored.
    if (client_first.size() < 3 || (client_first[0] != 'n' && client_first[0] != 'y') || client_first[1] != ',') {
        return fail("channel binding is not supported or the message is malformed");
    }
    const std::size_t bare = client_first.find(',', 2);
    if (bare == std::string_view::npos) return fail("malformed client-first message");
    client_first_bare_ = std::string(client_first.substr(bare + 1));
    const auto name = attribute(client_first_bare_, 'n');
    const auto nonce = attribute(client_first_bare_, 'r');
    if (!name || !nonce || nonce->empty()) return fail("client-first message lacks n= or r=");
    user_ = decode_name(*name);
    const auto it = users_.find(user_);
    if (it == users_.end()) return fail("unknown user");
    credential_ = &it->second;
    nonce_ = *nonce + server_nonce_;
    server_first_ = "r=" + nonce_ + ",s=" + base64_encode(credential_->salt) + ",i=" + std::to_string(credential_->iterations);
    return server_first_;
}

std::optional<std::string> ScramServerExchange::final(std::string_view client_final) {
    if (!credential_) return fail("client-final before client-first");
    const std::size_t proof_at = client_final.rfind(",p=");
    if (proof_at == std::string_view::npos) return fail("client-final message lacks p=");
    const std::string_view without_proof = client_final.substr(0, proof_at);
    if (attribute(without_proof, 'c') != std::optional<std::string>("biws") && attribute(without_proof, 'c') != std::optional<std::string>("eSws"))
        return fail("unexpected channel binding");
    // RFC 5802 wants the nonce of server-first back; librdkafka sends its client nonce again in
    // front of it, and Kafka's broker (ScramSaslServer) accepts any nonce that ends with it.
    const auto final_nonce = attribute(without_proof, 'r');
    if (!final_nonce || !final_nonce->ends_with(nonce_)) return fail("nonce mismatch");
    const auto proof = base64_decode(client_final.substr(proof_at + 3));
    const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    const std::string client_signature = hmac(hash_, credential_->stored_key, auth_message);
    if (!proof || proof->size() != client_signature.size()) return fail("invalid-proof");
    std::string client_key(client_signature.size(), '\0');
    for (std::size_t i = 0; i < client_key.size(); ++i) client_key[i] = static_cast<char>((*proof)[i] ^ client_signature[i]);
    if (hash_of(hash_, client_key) != credential_->stored_key) return fail("invalid-proof");
    return "v=" + base64_encode(hmac(hash_, credential_->server_key, auth_message));
}

}  // namespace starstream::test_support
