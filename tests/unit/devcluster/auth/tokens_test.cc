#include "devcluster/auth/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/openssl.h"
#include "tests/unit/devcluster/auth/fake_object_reader.h"
#include "tests/unit/devcluster/auth/test_keys.h"

namespace kcred::devcluster {
namespace {

using ::kcred::devcluster::testing::FakeObjectReader;
using ::kcred::devcluster::testing::OtherTestKeyPem;
using ::kcred::devcluster::testing::TestKeyPem;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

EvpPkeyPtr ReadKey(const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// PKCS#8 PEM of `key` ("" when encoding fails, which FromPem then refuses).
std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return "";
  }
  return MemoryBioContents(bio.get());
}

constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";

class TokensTest : public ::testing::Test {
 protected:
  TokenSigner Signer() const {
    auto signer = TokenSigner::FromPem(pem_);
    EXPECT_TRUE(signer.ok()) << signer.status();
    return *signer;
  }
  TokenSigner OtherSigner() const {
    auto signer = TokenSigner::FromPem(other_pem_);
    EXPECT_TRUE(signer.ok()) << signer.status();
    return *signer;
  }

  static std::string B64(absl::string_view s) { return absl::WebSafeBase64Escape(s); }
  static Json DecodePart(const std::string& token, int index) {
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    std::string raw;
    EXPECT_TRUE(absl::WebSafeBase64Unescape(parts.at(index), &raw));
    return Json::parse(raw);
  }

  // Fails unless `result` is Unauthenticated, mentions `reason`, and does not leak `token`.
  template <typename T>
  static void ExpectRejected(const absl::StatusOr<T>& result, const std::string& reason,
                             const std::string& token) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(reason));
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    for (const std::string& part : parts) {
      if (part.size() > 8) {
        EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr(part)));
      }
    }
  }

  const std::string pem_ = TestKeyPem();
  const std::string other_pem_ = OtherTestKeyPem();
};

// The key id is base64url(SHA-256(DER SubjectPublicKeyInfo)), computed here independently.
TEST_F(TokensTest, KeyIdIsBase64UrlSha256OfPublicKeyDer) {
  TokenSigner signer = Signer();
  EvpPkeyPtr pkey = ReadKey(pem_);
  ASSERT_NE(pkey, nullptr);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey.get(), &der);
  ASSERT_GT(len, 0);
  unsigned char digest[32];
  unsigned int digest_len = 0;
  const int digested = EVP_Digest(der, len, digest, &digest_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  ASSERT_EQ(digested, 1);
  std::string expected =
      absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(digest), digest_len));
  EXPECT_EQ(signer.key_id(), expected);
  EXPECT_EQ(signer.key_id().find('='), std::string::npos);
  EXPECT_EQ(signer.key_id().size(), 43u);
}

// GenerateKeyPem yields PKCS#8 PEM of a new 2048-bit RSA key that signs and verifies.
TEST_F(TokensTest, GeneratesPkcs8RsaKeys) {
  auto pem = TokenSigner::GenerateKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(*pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  EvpPkeyPtr pkey = ReadKey(*pem);
  ASSERT_NE(pkey, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(pkey.get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(pkey.get()), 2048);
  auto signer = TokenSigner::FromPem(*pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_NE(signer->key_id(), Signer().key_id());
  EXPECT_TRUE(signer->Verify(signer->Sign({{"a", 1}})).ok());
  EXPECT_THAT(signer->PublicKeyPem(), HasSubstr("-----BEGIN PUBLIC KEY-----"));
}

// Loading the same PEM twice gives the same key id (keys survive restarts).
TEST_F(TokensTest, ReloadedKeyHasSameKeyIdAndVerifiesOldTokens) {
  std::string token = Signer().Sign({{"a", 1}});
  TokenSigner reloaded = Signer();
  EXPECT_EQ(reloaded.key_id(), Signer().key_id());
  EXPECT_TRUE(reloaded.Verify(token).ok());
}

// FromPem accepts PKCS#1 ("RSA PRIVATE KEY") PEM too, with the same key id.
TEST_F(TokensTest, FromPemAcceptsPkcs1) {
  EvpPkeyPtr pkey = ReadKey(pem_);
  ASSERT_NE(pkey, nullptr);
  BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(out.get(), pkey.get(), nullptr, nullptr, 0,
                                                 nullptr, nullptr),
            1);
  std::string pkcs1 = MemoryBioContents(out.get());
  ASSERT_THAT(pkcs1, HasSubstr("BEGIN RSA PRIVATE KEY"));
  auto signer = TokenSigner::FromPem(pkcs1);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(signer->key_id(), Signer().key_id());
}

// FromPem refuses RSA keys shorter than 2048 bits.
TEST_F(TokensTest, FromPemRejectsShortRsaKeys) {
  EvpPkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_NE(small, nullptr);
  auto signer = TokenSigner::FromPem(KeyPem(small.get()));
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(signer.status().message()), HasSubstr("1024 bits"));
}

// FromPem rejects text that is not a PEM private key, and keys that are not RSA.
TEST_F(TokensTest, FromPemRejectsGarbageAndNonRsaKeys) {
  auto garbage = TokenSigner::FromPem("not a key");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);

  EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ASSERT_NE(ec, nullptr);
  auto not_rsa = TokenSigner::FromPem(KeyPem(ec.get()));
  ASSERT_FALSE(not_rsa.ok());
  EXPECT_EQ(not_rsa.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(not_rsa.status().message()), HasSubstr("RSA"));
}

// Sign writes an RS256 header with the kid and unpadded base64url parts; Verify returns the claims.
TEST_F(TokensTest, SignAndVerifyRoundTrip) {
  TokenSigner signer = Signer();
  Json claims = {{"sub", "x"}, {"n", 42}};
  std::string token = signer.Sign(claims);
  EXPECT_EQ(token.find('='), std::string::npos);
  EXPECT_EQ(token.find('+'), std::string::npos);
  EXPECT_EQ(token.find('/'), std::string::npos);
  Json header = DecodePart(token, 0);
  EXPECT_EQ(header, Json({{"alg", "RS256"}, {"kid", signer.key_id()}}));
  auto verified = signer.Verify(token);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, claims);
}

// Claims holding invalid UTF-8 are signed (with the bytes replaced) rather than throwing.
TEST_F(TokensTest, SignToleratesInvalidUtf8) {
  TokenSigner signer = Signer();
  std::string token = signer.Sign({{"sub", std::string("bad\xff")}});
  auto claims = signer.Verify(token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["sub"], "bad\xEF\xBF\xBD");
}

// A copy shares the key and verifies what the original signed.
TEST_F(TokensTest, CopiesShareTheKey) {
  TokenSigner signer = Signer();
  TokenSigner copy = signer;
  EXPECT_EQ(copy.key_id(), signer.key_id());
  EXPECT_TRUE(copy.Verify(signer.Sign({{"a", "b"}})).ok());
}

// A changed payload no longer matches the signature.
TEST_F(TokensTest, VerifyRejectsTamperedPayload) {
  TokenSigner signer = Signer();
  std::string token = signer.Sign({{"sub", "system:serviceaccount:a:b"}});
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string forged =
      absl::StrCat(parts[0], ".", B64(R"({"sub":"system:serviceaccount:a:admin"})"), ".", parts[2]);
  ExpectRejected(signer.Verify(forged), "signature is invalid", forged);
}

// A token signed by another key but claiming our kid fails the signature check.
TEST_F(TokensTest, VerifyRejectsSignatureOfAnotherKey) {
  TokenSigner signer = Signer();
  std::string theirs = OtherSigner().Sign({{"sub", "x"}});
  std::vector<std::string> parts = absl::StrSplit(theirs, '.');
  std::string forged = absl::StrCat(B64(Json({{"alg", "RS256"}, {"kid", signer.key_id()}}).dump()),
                                    ".", parts[1], ".", parts[2]);
  ExpectRejected(signer.Verify(forged), "signature is invalid", forged);
}

// A token whose kid is not ours is rejected before any signature work.
TEST_F(TokensTest, VerifyRejectsUnknownKid) {
  std::string theirs = OtherSigner().Sign({{"sub", "x"}});
  ExpectRejected(Signer().Verify(theirs), "unknown key", theirs);
}

// alg "none" (with or without a signature) and other algorithms are refused.
TEST_F(TokensTest, VerifyRejectsAlgNoneAndOtherAlgorithms) {
  TokenSigner signer = Signer();
  std::string payload = B64(R"({"sub":"x"})");
  std::string none_empty = absl::StrCat(B64(R"({"alg":"none"})"), ".", payload, ".");
  ExpectRejected(signer.Verify(none_empty), "", none_empty);
  std::string none_kid = absl::StrCat(B64(Json({{"alg", "none"}, {"kid", signer.key_id()}}).dump()),
                                      ".", payload, ".c2ln");
  ExpectRejected(signer.Verify(none_kid), "signing algorithm \"none\"", none_kid);
  std::string hs256 = absl::StrCat(B64(R"({"alg":"HS256"})"), ".", payload, ".c2lnbmF0dXJl");
  ExpectRejected(signer.Verify(hs256), "signing algorithm \"HS256\"", hs256);
  std::string no_alg = absl::StrCat(B64(R"({"kid":"x"})"), ".", payload, ".c2ln");
  ExpectRejected(signer.Verify(no_alg), "signing algorithm", no_alg);
}

// Tokens that are not three base64url JSON parts are rejected with a clear reason.
TEST_F(TokensTest, VerifyRejectsMalformedTokens) {
  TokenSigner signer = Signer();
  std::string good = signer.Sign({{"sub", "x"}});
  std::vector<std::string> parts = absl::StrSplit(good, '.');
  ExpectRejected(signer.Verify(""), "JWS compact", "");
  ExpectRejected(signer.Verify("abc"), "JWS compact", "abc");
  std::string two = absl::StrCat(parts[0], ".", parts[1]);
  ExpectRejected(signer.Verify(two), "JWS compact", two);
  std::string four = absl::StrCat(good, ".x");
  ExpectRejected(signer.Verify(four), "JWS compact", four);
  std::string bad_b64 = absl::StrCat("%%%.", parts[1], ".", parts[2]);
  ExpectRejected(signer.Verify(bad_b64), "base64url", bad_b64);
  std::string padded = absl::StrCat(parts[0], ".", parts[1], ".", parts[2], "==");
  ExpectRejected(signer.Verify(padded), "base64url", padded);
  std::string not_json = absl::StrCat(B64("{nope"), ".", parts[1], ".", parts[2]);
  ExpectRejected(signer.Verify(not_json), "not a JSON object", not_json);
}

// Verification runs concurrently on shared copies of one signer.
TEST_F(TokensTest, VerifyIsThreadSafe) {
  TokenSigner signer = Signer();
  std::string token = signer.Sign({{"sub", "x"}});
  std::string forged = token;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!signer.Verify(token).ok()) failures++;
        if (signer.Verify(forged).ok()) failures++;
        if (t == 0 && !signer.Verify(signer.Sign({{"i", i}})).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// Fixture with a ServiceAccount, a Secret to bind to, and the issuer's tokens.
class ServiceAccountTokensTest : public TokensTest {
 protected:
  void SetUp() override {
    tokens_ = std::make_unique<ServiceAccountTokens>(Signer(), kIssuer);
    objects_.Put("serviceaccounts",
                 {{"apiVersion", "v1"},
                  {"kind", "ServiceAccount"},
                  {"metadata", {{"name", "robot"}, {"namespace", "team"}, {"uid", "sa-uid-1"}}}});
    objects_.Put(
        "secrets",
        {{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"type", "Opaque"},
         {"metadata", {{"name", "anchor"}, {"namespace", "team"}, {"uid", "secret-uid-1"}}}});
  }

  BoundTokenRequest Request(bool bind_secret = false) const {
    BoundTokenRequest r;
    r.namespace_name = "team";
    r.service_account_name = "robot";
    r.service_account_uid = "sa-uid-1";
    r.audiences = {kIssuer};
    r.issued_at = now_;
    r.expires_at = now_ + absl::Hours(1);
    if (bind_secret) r.bound_secret = SecretRef{"anchor", "secret-uid-1"};
    return r;
  }

  absl::StatusOr<UserInfo> Auth(const std::string& token, absl::Time at) const {
    return tokens_->Authenticate(token, at, objects_, {kIssuer});
  }

  // Stores a legacy token Secret as the token controller fills it.
  std::string PutLegacySecret(const std::string& name, Json labels = Json::object()) {
    std::string token = tokens_->IssueLegacy("team", "robot", "sa-uid-1", name);
    objects_.Put(
        "secrets",
        {{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"type", "kubernetes.io/service-account-token"},
         {"metadata",
          {{"name", name},
           {"namespace", "team"},
           {"uid", "legacy-uid"},
           {"labels", labels},
           {"annotations",
            {{"kubernetes.io/service-account.name", "robot"},
             {"kubernetes.io/service-account.uid", "sa-uid-1"}}}}},
         {"data",
          {{"token", absl::Base64Escape(token)}, {"namespace", absl::Base64Escape("team")}}}});
    return token;
  }

  absl::Time now_ = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
  FakeObjectReader objects_;
  std::unique_ptr<ServiceAccountTokens> tokens_;
};

// The bound token carries exactly the reference's claims.
TEST_F(ServiceAccountTokensTest, IssueBoundHasReferenceClaims) {
  EXPECT_EQ(tokens_->issuer(), kIssuer);
  std::string token = tokens_->IssueBound(Request(/*bind_secret=*/true));
  Json claims = DecodePart(token, 1);
  std::string jti = claims.at("jti");
  EXPECT_TRUE(std::regex_match(
      jti, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << jti;
  Json expected = {
      {"iss", kIssuer},
      {"sub", "system:serviceaccount:team:robot"},
      {"aud", {kIssuer}},
      {"exp", 1767229200},
      {"iat", 1767225600},
      {"nbf", 1767225600},
      {"jti", jti},
      {"kubernetes.io",
       {{"namespace", "team"},
        {"serviceaccount", {{"name", "robot"}, {"uid", "sa-uid-1"}}},
        {"secret", {{"name", "anchor"}, {"uid", "secret-uid-1"}}}}},
  };
  EXPECT_EQ(claims, expected);
  EXPECT_EQ(DecodePart(token, 0), Json({{"alg", "RS256"}, {"kid", Signer().key_id()}}));
}

// Without a bound object there is no secret claim, and each token gets its own jti.
TEST_F(ServiceAccountTokensTest, IssueBoundWithoutSecretAndUniqueJti) {
  Json a = DecodePart(tokens_->IssueBound(Request()), 1);
  Json b = DecodePart(tokens_->IssueBound(Request()), 1);
  EXPECT_FALSE(a["kubernetes.io"].contains("secret"));
  EXPECT_NE(a["jti"], b["jti"]);
}

// The legacy token carries the legacy claims and no exp, iat or aud.
TEST_F(ServiceAccountTokensTest, IssueLegacyHasLegacyClaims) {
  Json claims = DecodePart(tokens_->IssueLegacy("team", "robot", "sa-uid-1", "robot-token"), 1);
  Json expected = {
      {"iss", "kubernetes/serviceaccount"},
      {"sub", "system:serviceaccount:team:robot"},
      {"kubernetes.io/serviceaccount/namespace", "team"},
      {"kubernetes.io/serviceaccount/secret.name", "robot-token"},
      {"kubernetes.io/serviceaccount/service-account.name", "robot"},
      {"kubernetes.io/serviceaccount/service-account.uid", "sa-uid-1"},
  };
  EXPECT_EQ(claims, expected);
}

// A valid bound token authenticates as the ServiceAccount with its groups and credential id.
TEST_F(ServiceAccountTokensTest, BoundTokenAuthenticates) {
  std::string token = tokens_->IssueBound(Request(/*bind_secret=*/true));
  std::string jti = DecodePart(token, 1)["jti"];
  auto user = Auth(token, now_ + absl::Minutes(5));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->username, "system:serviceaccount:team:robot");
  EXPECT_EQ(user->uid, "sa-uid-1");
  EXPECT_EQ(user->groups,
            (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:team",
                                      "system:authenticated"}));
  EXPECT_EQ(user->extra,
            (std::map<std::string, std::vector<std::string>>{
                {"authentication.kubernetes.io/credential-id", {absl::StrCat("JTI=", jti)}}}));
}

// Any one of the token's audiences being an API audience is enough.
TEST_F(ServiceAccountTokensTest, AudienceIntersectionSuffices) {
  BoundTokenRequest r = Request();
  r.audiences = {"vault", "api"};
  std::string token = tokens_->IssueBound(r);
  EXPECT_TRUE(tokens_->Authenticate(token, now_, objects_, {"other", "api"}).ok());
  ExpectRejected(tokens_->Authenticate(token, now_, objects_, {kIssuer}),
                 R"(token audiences ["vault" "api"] is invalid for the target audiences )"
                 R"(["https://kubernetes.default.svc.cluster.local"])",
                 token);
}

// With no API audiences configured, the audience is not checked.
TEST_F(ServiceAccountTokensTest, NoApiAudiencesSkipsTheAudienceCheck) {
  BoundTokenRequest r = Request();
  r.audiences = {"vault"};
  std::string token = tokens_->IssueBound(r);
  EXPECT_TRUE(tokens_->Authenticate(token, now_, objects_, {}).ok());
}

// Many threads authenticate the same and different tokens at once, each getting its own answer.
TEST_F(ServiceAccountTokensTest, AuthenticateIsThreadSafe) {
  std::string bound = tokens_->IssueBound(Request(/*bind_secret=*/true));
  std::string legacy = PutLegacySecret("robot-token");
  std::string forged = bound;
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto a = Auth(bound, now_);
        if (!a.ok() || a->extra.empty()) wrong++;
        auto b = Auth(legacy, now_);
        if (!b.ok() || !b->extra.empty()) wrong++;
        if (Auth(forged, now_).ok()) wrong++;
        if (Auth(bound, now_ + absl::Hours(2)).ok()) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A token whose claims were verified once is still checked against the objects every time.
TEST_F(ServiceAccountTokensTest, RepeatedAuthenticationRechecksObjects) {
  std::string token = tokens_->IssueBound(Request());
  ASSERT_TRUE(Auth(token, now_).ok());
  ASSERT_TRUE(Auth(token, now_).ok());
  objects_.Delete("serviceaccounts", "team", "robot");
  ExpectRejected(Auth(token, now_), "not found", token);
  objects_.Put("serviceaccounts",
               {{"metadata", {{"name", "robot"}, {"namespace", "team"}, {"uid", "sa-uid-1"}}}});
  EXPECT_TRUE(Auth(token, now_).ok());
}

// Past exp (beyond kube-apiserver's one-minute leeway) the token has expired.
TEST_F(ServiceAccountTokensTest, ExpiredTokenIsRejected) {
  std::string token = tokens_->IssueBound(Request());
  absl::Time exp = now_ + absl::Hours(1);
  EXPECT_TRUE(Auth(token, exp).ok());
  EXPECT_TRUE(Auth(token, exp + absl::Seconds(59)).ok());
  ExpectRejected(Auth(token, exp + absl::Seconds(61)), "service account token has expired", token);
  ExpectRejected(Auth(token, exp + absl::Hours(24)), "service account token has expired", token);
}

// Before nbf (beyond the leeway) the token is not valid yet.
TEST_F(ServiceAccountTokensTest, NotYetValidTokenIsRejected) {
  std::string token = tokens_->IssueBound(Request());
  EXPECT_TRUE(Auth(token, now_ - absl::Seconds(30)).ok());
  ExpectRejected(Auth(token, now_ - absl::Minutes(2)), "service account token is not valid yet",
                 token);
}

// A deleted ServiceAccount invalidates its tokens.
TEST_F(ServiceAccountTokensTest, MissingServiceAccountIsRejected) {
  std::string token = tokens_->IssueBound(Request());
  objects_.Delete("serviceaccounts", "team", "robot");
  ExpectRejected(Auth(token, now_), "serviceaccounts \"robot\" not found", token);
}

// A ServiceAccount recreated under the same name (new uid) does not accept old tokens.
TEST_F(ServiceAccountTokensTest, RecreatedServiceAccountIsRejected) {
  std::string token = tokens_->IssueBound(Request());
  objects_.Put("serviceaccounts",
               {{"metadata", {{"name", "robot"}, {"namespace", "team"}, {"uid", "sa-uid-2"}}}});
  ExpectRejected(Auth(token, now_),
                 "service account UID (sa-uid-2) does not match claim (sa-uid-1)", token);
}

// Deleting the bound Secret revokes the token at once.
TEST_F(ServiceAccountTokensTest, DeletedBoundSecretIsRejected) {
  std::string token = tokens_->IssueBound(Request(/*bind_secret=*/true));
  ASSERT_TRUE(Auth(token, now_).ok());
  objects_.Delete("secrets", "team", "anchor");
  ExpectRejected(Auth(token, now_), "service account token has been invalidated", token);
}

// A bound Secret or ServiceAccount being deleted invalidates the token once the deletion is
// older than the leeway.
TEST_F(ServiceAccountTokensTest, TerminatingObjectsInvalidateBoundToken) {
  std::string token = tokens_->IssueBound(Request(/*bind_secret=*/true));
  objects_.Put("secrets", {{"metadata",
                            {{"name", "anchor"},
                             {"namespace", "team"},
                             {"uid", "secret-uid-1"},
                             {"deletionTimestamp", "2026-01-01T00:00:00Z"}}}});
  EXPECT_TRUE(Auth(token, now_ + absl::Seconds(30)).ok());
  ExpectRejected(Auth(token, now_ + absl::Seconds(61)),
                 "service account token has been invalidated", token);

  std::string unbound = tokens_->IssueBound(Request());
  objects_.Put("serviceaccounts", {{"metadata",
                                    {{"name", "robot"},
                                     {"namespace", "team"},
                                     {"uid", "sa-uid-1"},
                                     {"deletionTimestamp", "2026-01-01T00:00:00Z"}}}});
  EXPECT_TRUE(Auth(unbound, now_ + absl::Seconds(30)).ok());
  ExpectRejected(Auth(unbound, now_ + absl::Seconds(61)),
                 "service account team/robot has been deleted", unbound);
}

// A token issued in the future (iat beyond the leeway) is rejected.
TEST_F(ServiceAccountTokensTest, TokenIssuedInTheFutureIsRejected) {
  Json claims = DecodePart(tokens_->IssueBound(Request()), 1);
  claims["iat"] = absl::ToUnixSeconds(now_ + absl::Minutes(5));
  std::string token = Signer().Sign(claims);
  ExpectRejected(Auth(token, now_), "service account token is issued in the future", token);
  EXPECT_TRUE(Auth(token, now_ + absl::Minutes(5)).ok());
}

// A bound token without the kubernetes.io claims is rejected.
TEST_F(ServiceAccountTokensTest, BoundTokenWithoutKubernetesClaimsIsRejected) {
  Json claims = DecodePart(tokens_->IssueBound(Request()), 1);
  claims.erase("kubernetes.io");
  std::string token = Signer().Sign(claims);
  ExpectRejected(Auth(token, now_), "lacks the kubernetes.io", token);
}

// A bound Secret recreated under the same name (new uid) does not accept old tokens.
TEST_F(ServiceAccountTokensTest, RecreatedBoundSecretIsRejected) {
  std::string token = tokens_->IssueBound(Request(/*bind_secret=*/true));
  objects_.Put("secrets", {{"metadata",
                            {{"name", "anchor"}, {"namespace", "team"}, {"uid", "secret-uid-2"}}}});
  ExpectRejected(Auth(token, now_),
                 "secret UID (secret-uid-2) does not match service account secret ref claim "
                 "(secret-uid-1)",
                 token);
}

// A token signed by another key, even with our issuer, is rejected.
TEST_F(ServiceAccountTokensTest, TokenFromAnotherKeyIsRejected) {
  ServiceAccountTokens foreign(OtherSigner(), kIssuer);
  std::string token = foreign.IssueBound(Request());
  ExpectRejected(Auth(token, now_), "unknown key", token);
}

// A token with our signature but another issuer is not a ServiceAccount token of ours.
TEST_F(ServiceAccountTokensTest, UnknownIssuerIsRejected) {
  ServiceAccountTokens other_issuer(Signer(), "https://elsewhere.example");
  std::string token = other_issuer.IssueBound(Request());
  ExpectRejected(Auth(token, now_), "issuer \"https://elsewhere.example\"", token);
}

// A legacy token whose Secret holds it authenticates, without a credential id.
TEST_F(ServiceAccountTokensTest, LegacyTokenAuthenticates) {
  std::string token = PutLegacySecret("robot-token");
  auto user = Auth(token, now_ + absl::Hours(24 * 365));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->username, "system:serviceaccount:team:robot");
  EXPECT_EQ(user->uid, "sa-uid-1");
  EXPECT_EQ(user->groups,
            (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:team",
                                      "system:authenticated"}));
  EXPECT_TRUE(user->extra.empty());
  // Legacy tokens carry no audience, so the API audiences do not restrict them.
  EXPECT_TRUE(tokens_->Authenticate(token, now_, objects_, {"something-else"}).ok());
}

// Deleting a legacy token's Secret revokes it.
TEST_F(ServiceAccountTokensTest, LegacyTokenWithoutSecretIsRejected) {
  std::string token = PutLegacySecret("robot-token");
  objects_.Delete("secrets", "team", "robot-token");
  ExpectRejected(Auth(token, now_), "Token has been invalidated", token);
}

// A legacy token that is not the one its Secret holds is rejected.
TEST_F(ServiceAccountTokensTest, LegacyTokenMismatchIsRejected) {
  std::string token = PutLegacySecret("robot-token");
  // The Secret's data replaced by another token, then removed.
  auto secret = *objects_.Get("secrets", "team", "robot-token");
  secret["data"]["token"] = absl::Base64Escape("some-other-token");
  objects_.Put("secrets", secret);
  ExpectRejected(Auth(token, now_), "Token does not match server's copy", token);
  secret["data"].erase("token");
  objects_.Put("secrets", secret);
  ExpectRejected(Auth(token, now_), "Token does not match server's copy", token);
}

// The legacy-token-invalid-since label disables the token.
TEST_F(ServiceAccountTokensTest, LegacyTokenMarkedInvalidIsRejected) {
  std::string token =
      PutLegacySecret("robot-token", {{"kubernetes.io/legacy-token-invalid-since", "2025-12-01"}});
  ExpectRejected(Auth(token, now_),
                 "the token in secret team/robot-token for service account team/robot has been "
                 "marked invalid",
                 token);
}

// A legacy token stored in a Secret of another type is rejected.
TEST_F(ServiceAccountTokensTest, LegacyTokenInOpaqueSecretIsRejected) {
  std::string token = PutLegacySecret("robot-token");
  auto secret = *objects_.Get("secrets", "team", "robot-token");
  secret["type"] = "Opaque";
  objects_.Put("secrets", secret);
  ExpectRejected(Auth(token, now_), "is not of type kubernetes.io/service-account-token", token);
}

// A legacy token of a deleted or recreated ServiceAccount is rejected.
TEST_F(ServiceAccountTokensTest, LegacyTokenOfMissingOrRecreatedServiceAccountIsRejected) {
  std::string token = PutLegacySecret("robot-token");
  objects_.Put("serviceaccounts",
               {{"metadata", {{"name", "robot"}, {"namespace", "team"}, {"uid", "sa-uid-2"}}}});
  ExpectRejected(Auth(token, now_), "ServiceAccount UID (sa-uid-2) does not match claim (sa-uid-1)",
                 token);
  objects_.Delete("serviceaccounts", "team", "robot");
  ExpectRejected(Auth(token, now_), "serviceaccounts \"robot\" not found", token);
}

// A legacy token whose sub disagrees with its namespace/name claims is rejected.
TEST_F(ServiceAccountTokensTest, LegacyTokenWithInconsistentSubIsRejected) {
  std::string token = Signer().Sign({
      {"iss", "kubernetes/serviceaccount"},
      {"sub", "system:serviceaccount:kube-system:admin"},
      {"kubernetes.io/serviceaccount/namespace", "team"},
      {"kubernetes.io/serviceaccount/secret.name", "robot-token"},
      {"kubernetes.io/serviceaccount/service-account.name", "robot"},
      {"kubernetes.io/serviceaccount/service-account.uid", "sa-uid-1"},
  });
  ExpectRejected(Auth(token, now_), "sub claim is invalid", token);
}

}  // namespace
}  // namespace kcred::devcluster
