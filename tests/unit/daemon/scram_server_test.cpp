// The test gateway's SCRAM server against the test vector of RFC 7677 section 3
// (SCRAM-SHA-256, user "user", password "pencil", 4096 iterations).
#include "auth_gateway/scram_server.h"

#include <gtest/gtest.h>

using namespace starstream::test_support;

namespace {

constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::map<std::string, ScramCredential> rfc_users() {
    return {{"user", make_scram_credential(ScramHash::sha256, "pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)}};
}

}  // namespace

TEST(ScramServer, Rfc7677TestVector) {
    const auto users = rfc_users();
    ScramServerExchange exchange(ScramHash::sha256, users, kServerNonce);
    EXPECT_EQ(exchange.first(kClientFirst), std::optional<std::string>(kServerFirst));
    EXPECT_EQ(exchange.final(kClientFinal), std::optional<std::string>(kServerFinal)) << exchange.error();
    EXPECT_EQ(exchange.user(), "user");
}

TEST(ScramServer, WrongProofIsRejected) {
    const auto users = rfc_users();
    ScramServerExchange exchange(ScramHash::sha256, users, kServerNonce);
    ASSERT_TRUE(exchange.first(kClientFirst));
    std::string tampered = kClientFinal;
    tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(exchange.final(tampered));
    EXPECT_EQ(exchange.error(), "invalid-proof");
}

TEST(ScramServer, WrongPasswordGivesAnotherCredential) {
    std::map<std::string, ScramCredential> users = {
        {"user", make_scram_credential(ScramHash::sha256, "not-pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)}};
    ScramServerExchange exchange(ScramHash::sha256, users, kServerNonce);
    ASSERT_TRUE(exchange.first(kClientFirst));
    EXPECT_FALSE(exchange.final(kClientFinal));
}

TEST(ScramServer, UnknownUserAndChannelBindingAreRefused) {
    const auto users = rfc_users();
    ScramServerExchange unknown(ScramHash::sha256, users, kServerNonce);
    EXPECT_FALSE(unknown.first("n,,n=mallory,r=abc"));
    EXPECT_EQ(unknown.error(), "unknown user");
    ScramServerExchange binding(ScramHash::sha256, users, kServerNonce);
    EXPECT_FALSE(binding.first("p=tls-unique,,n=user,r=abc"));
}

TEST(ScramServer, Sha512CredentialsHaveSha512Sizes) {
    const ScramCredential c = make_scram_credential(ScramHash::sha512, "pencil", "salt", 4096);
    EXPECT_EQ(c.stored_key.size(), 64u);
    EXPECT_EQ(c.server_key.size(), 64u);
}

TEST(Base64, RoundTripsAndRejectsBadInput) {
    EXPECT_EQ(base64_encode("biws"), "Yml3cw==");
    EXPECT_EQ(base64_decode("biws"), std::optional<std::string>("n,,"));
    EXPECT_EQ(base64_decode("Yml3cw=="), std::optional<std::string>("biws"));
    EXPECT_FALSE(base64_decode("abc"));
}
