#include "devcluster/auth/tokens.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/openssl.h"
#include "common/uuid.h"
#include "devcluster/auth/go_quote.h"

namespace kcred::devcluster {
namespace {

constexpr char kServiceAccountUsernamePrefix[] = "system:serviceaccount:";
constexpr char kCredentialIdExtra[] = "authentication.kubernetes.io/credential-id";
constexpr char kServiceAccountTokenSecretType[] = "kubernetes.io/service-account-token";

// The newest OpenSSL error, for messages; drains the thread's error queue.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

// Debian's Abseil keeps its own string_view type, so std::string_view is converted explicitly.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

// base64url as JWS uses it: no padding, no other alphabet.
bool DecodeBase64Url(absl::string_view in, std::string* out) {
  for (char c : in) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  if (in.size() % 4 == 1) return false;
  return absl::WebSafeBase64Unescape(in, out);
}

absl::StatusOr<std::string> PublicKeyDer(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) {
    return absl::InternalError(
        absl::StrCat("encoding the token signing public key as DER: ", OpenSslError()));
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::Status Unauthenticated(std::string_view message) {
  return absl::UnauthenticatedError(Absl(message));
}

// A string member of a JSON object, or "" when absent or not a string.
std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const nlohmann::json* ObjectAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || !it->is_object()) return nullptr;
  return &*it;
}

// A NumericDate claim: nullopt when absent; error when present but not a number.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const nlohmann::json& claims, const char* key) {
  auto it = claims.find(key);
  if (it == claims.end() || it->is_null()) return std::optional<absl::Time>();
  if (!it->is_number()) {
    return Unauthenticated(absl::StrCat("service account token claim \"", key,
                                        "\" is not a number; request a new token"));
  }
  return std::optional<absl::Time>(absl::FromUnixSeconds(it->get<int64_t>()));
}

std::vector<std::string> AudienceClaim(const nlohmann::json& claims) {
  std::vector<std::string> out;
  auto it = claims.find("aud");
  if (it == claims.end()) return out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string()) out.push_back(a.get<std::string>());
    }
  }
  return out;
}

// Whether the object is being deleted. Bound tokens tolerate a deletion younger than the leeway
// (`cutoff` = now - leeway), as kube-apiserver does; legacy tokens pass InfiniteFuture.
bool DeletedBefore(const nlohmann::json& object, absl::Time cutoff) {
  const nlohmann::json* metadata = ObjectAt(object, "metadata");
  std::string deleted_at = metadata == nullptr ? "" : StringAt(*metadata, "deletionTimestamp");
  if (deleted_at.empty()) return false;
  absl::Time t;
  std::string error;
  // An unreadable timestamp still marks the object as going away.
  if (!absl::ParseTime(absl::RFC3339_full, deleted_at, &t, &error)) return true;
  return t < cutoff;
}

std::string Uid(const nlohmann::json& object) {
  const nlohmann::json* metadata = ObjectAt(object, "metadata");
  return metadata == nullptr ? "" : StringAt(*metadata, "uid");
}

UserInfo ServiceAccountUser(const std::string& ns, const std::string& name,
                            const std::string& uid) {
  UserInfo user;
  user.username = absl::StrCat(kServiceAccountUsernamePrefix, ns, ":", name);
  user.uid = uid;
  user.groups = {"system:serviceaccounts", absl::StrCat("system:serviceaccounts:", ns),
                 "system:authenticated"};
  return user;
}

}  // namespace

struct TokenSigner::Key {
  EvpPkeyPtr pkey;
  EvpMdPtr sha256;
  std::string kid;
  // A digest context already initialised for RS256 verification with this key. Each Verify copies
  // it, which is several times cheaper than initialising a context in OpenSSL 3; the prototype
  // itself is only read.
  EvpMdCtxPtr verify_prototype;
};

TokenSigner::TokenSigner(std::shared_ptr<const Key> key) : key_(std::move(key)) {}

absl::StatusOr<std::string> TokenSigner::GenerateKeyPem() {
  EvpPkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  if (pkey == nullptr) {
    return absl::InternalError(
        absl::StrCat("generating a 2048-bit RSA token signing key: ", OpenSslError()));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("encoding the token signing key as PKCS#8 PEM: ", OpenSslError()));
  }
  return MemoryBioContents(bio.get());
}

absl::StatusOr<TokenSigner> TokenSigner::FromPem(const std::string& private_key_pem) {
  BioPtr bio = MemoryBio(private_key_pem);
  if (bio == nullptr) return absl::InternalError("allocating an OpenSSL memory buffer");
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "token signing key: no PEM private key found; pass an RSA private key in PEM form "
        "(PKCS#8 or PKCS#1)");
  }
  if (EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError(
        absl::StrCat("token signing key: is a ", OBJ_nid2sn(EVP_PKEY_get_base_id(pkey.get())),
                     " key, RS256 needs an RSA key; generate one with GenerateKeyPem"));
  }
  if (EVP_PKEY_get_bits(pkey.get()) < 2048) {
    return absl::InvalidArgumentError(absl::StrCat("token signing key: RSA key has ",
                                                   EVP_PKEY_get_bits(pkey.get()),
                                                   " bits, at least 2048 are needed"));
  }
  auto key = std::make_shared<Key>();
  key->sha256.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (key->sha256 == nullptr) {
    return absl::InternalError(absl::StrCat("fetching SHA-256 from OpenSSL: ", OpenSslError()));
  }
  absl::StatusOr<std::string> der = PublicKeyDer(pkey.get());
  if (!der.ok()) return der.status();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(der->data(), der->size(), digest, &digest_len, key->sha256.get(), nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("hashing the token signing public key: ", OpenSslError()));
  }
  key->kid = Base64Url(absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
  key->verify_prototype.reset(EVP_MD_CTX_new());
  if (key->verify_prototype == nullptr ||
      EVP_DigestVerifyInit(key->verify_prototype.get(), nullptr, key->sha256.get(), nullptr,
                           pkey.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("preparing RS256 verification with the token signing key: ", OpenSslError()));
  }
  key->pkey = std::move(pkey);
  return TokenSigner(std::move(key));
}

const std::string& TokenSigner::key_id() const { return key_->kid; }

std::string TokenSigner::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key_->pkey.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  return MemoryBioContents(bio.get());
}

std::string TokenSigner::Sign(const nlohmann::json& claims) const {
  nlohmann::json header = {{"alg", "RS256"}, {"kid", key_->kid}};
  // Invalid UTF-8 in a claim is replaced rather than thrown: Sign has no error path.
  std::string payload = claims.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string signing_input = absl::StrCat(Base64Url(header.dump()), ".", Base64Url(payload));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  // Signing with a valid in-memory RSA key fails only on allocation failure; there is no
  // meaningful recovery, and an unsigned token must never be handed out.
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_->pkey.get(),
                            nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    std::abort();
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    std::abort();
  }
  sig.resize(sig_len);
  return absl::StrCat(signing_input, ".", Base64Url(sig));
}

absl::StatusOr<nlohmann::json> TokenSigner::Verify(std::string_view token) const {
  std::vector<absl::string_view> parts = absl::StrSplit(Absl(token), '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
    return Unauthenticated("bearer token is not a JWS compact serialization (header.payload.sig)");
  }
  std::string header_json;
  if (!DecodeBase64Url(parts[0], &header_json)) {
    return Unauthenticated("bearer token header is not valid base64url");
  }
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return Unauthenticated("bearer token header is not a JSON object");
  std::string alg = StringAt(header, "alg");
  if (alg != "RS256") {
    if (alg.size() > 16) alg = absl::StrCat(alg.substr(0, 16), "...");
    return Unauthenticated(
        absl::StrCat("bearer token uses signing algorithm \"", absl::CEscape(alg),
                     "\"; only RS256 tokens issued by this server are accepted"));
  }
  if (header.contains("kid")) {
    if (StringAt(header, "kid") != key_->kid) {
      return Unauthenticated(
          "bearer token was signed with an unknown key (kid); request a new token from this "
          "server");
    }
  }
  std::string signature;
  if (!DecodeBase64Url(parts[2], &signature) || signature.empty()) {
    return Unauthenticated("bearer token signature is not valid base64url");
  }
  size_t signing_input_len = parts[0].size() + 1 + parts[1].size();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return absl::ResourceExhaustedError("allocating an OpenSSL digest context");
  if (EVP_MD_CTX_copy_ex(ctx.get(), key_->verify_prototype.get()) != 1) {
    return absl::InternalError(absl::StrCat("initialising RS256 verification: ", OpenSslError()));
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(token.data()),
                            signing_input_len);
  if (rc != 1) {
    ERR_clear_error();
    return Unauthenticated("bearer token signature is invalid");
  }
  std::string payload_json;
  if (!DecodeBase64Url(parts[1], &payload_json)) {
    return Unauthenticated("bearer token payload is not valid base64url");
  }
  nlohmann::json claims = nlohmann::json::parse(payload_json, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return Unauthenticated("bearer token payload is not a JSON object");
  return claims;
}

struct ServiceAccountTokens::VerifiedCache {
  // Bounded so that a stream of distinct valid tokens cannot grow memory without limit; when full
  // the cache starts over, which costs one verification per live token.
  static constexpr size_t kMaxEntries = 4096;

  absl::Mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const nlohmann::json>> claims ABSL_GUARDED_BY(mu);
};

ServiceAccountTokens::ServiceAccountTokens(const TokenSigner& signer, std::string issuer)
    : signer_(signer), issuer_(std::move(issuer)), verified_(std::make_shared<VerifiedCache>()) {}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> ServiceAccountTokens::VerifiedClaims(
    std::string_view token) const {
  std::string key(token);
  {
    absl::ReaderMutexLock lock(&verified_->mu);
    auto it = verified_->claims.find(key);
    if (it != verified_->claims.end()) return it->second;
  }
  absl::StatusOr<nlohmann::json> claims = signer_.Verify(token);
  if (!claims.ok()) return claims.status();
  auto shared = std::make_shared<const nlohmann::json>(*std::move(claims));
  absl::MutexLock lock(&verified_->mu);
  if (verified_->claims.size() >= VerifiedCache::kMaxEntries) verified_->claims.clear();
  verified_->claims.emplace(std::move(key), shared);
  return shared;
}

const std::string& ServiceAccountTokens::issuer() const { return issuer_; }

std::string ServiceAccountTokens::IssueBound(const BoundTokenRequest& request) const {
  nlohmann::json kube = {
      {"namespace", request.namespace_name},
      {"serviceaccount",
       {{"name", request.service_account_name}, {"uid", request.service_account_uid}}},
  };
  if (request.bound_secret.has_value()) {
    kube["secret"] = {{"name", request.bound_secret->name}, {"uid", request.bound_secret->uid}};
  }
  nlohmann::json claims = {
      {"iss", issuer_},
      {"sub", absl::StrCat(kServiceAccountUsernamePrefix, request.namespace_name, ":",
                           request.service_account_name)},
      {"aud", request.audiences},
      {"exp", absl::ToUnixSeconds(request.expires_at)},
      {"iat", absl::ToUnixSeconds(request.issued_at)},
      {"nbf", absl::ToUnixSeconds(request.issued_at)},
      {"jti", NewUuid()},
      {"kubernetes.io", std::move(kube)},
  };
  return signer_.Sign(claims);
}

std::string ServiceAccountTokens::IssueLegacy(std::string_view namespace_name,
                                              std::string_view service_account_name,
                                              std::string_view service_account_uid,
                                              std::string_view secret_name) const {
  nlohmann::json claims = {
      {"iss", kLegacyTokenIssuer},
      {"sub", absl::StrCat(kServiceAccountUsernamePrefix, Absl(namespace_name), ":",
                           Absl(service_account_name))},
      {"kubernetes.io/serviceaccount/namespace", namespace_name},
      {"kubernetes.io/serviceaccount/secret.name", secret_name},
      {"kubernetes.io/serviceaccount/service-account.name", service_account_name},
      {"kubernetes.io/serviceaccount/service-account.uid", service_account_uid},
  };
  return signer_.Sign(claims);
}

absl::StatusOr<UserInfo> ServiceAccountTokens::Authenticate(
    std::string_view token, absl::Time now, const ObjectReader& objects,
    const std::vector<std::string>& api_audiences) const {
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> claims = VerifiedClaims(token);
  if (!claims.ok()) return claims.status();
  const nlohmann::json& verified = **claims;
  std::string iss = StringAt(verified, "iss");
  if (iss == issuer_) return AuthenticateBound(verified, now, objects, api_audiences);
  if (iss == kLegacyTokenIssuer) return AuthenticateLegacy(token, verified, objects);
  return Unauthenticated(absl::StrCat("bearer token issuer \"", absl::CEscape(iss),
                                      "\" is not this server's (\"", issuer_, "\")"));
}

absl::StatusOr<UserInfo> ServiceAccountTokens::AuthenticateBound(
    const nlohmann::json& claims, absl::Time now, const ObjectReader& objects,
    const std::vector<std::string>& api_audiences) const {
  // Audiences first, as kube-apiserver's JWT authenticator checks them before the claims.
  std::vector<std::string> token_audiences = AudienceClaim(claims);
  bool audience_ok = false;
  for (const std::string& aud : token_audiences) {
    for (const std::string& accepted : api_audiences) {
      if (aud == accepted) audience_ok = true;
    }
  }
  // Without API audiences there is nothing to check against (kube-apiserver skips it too).
  if (!audience_ok && !api_audiences.empty()) {
    return Unauthenticated(absl::StrCat("token audiences ", go::QuoteList(token_audiences),
                                        " is invalid for the target audiences ",
                                        go::QuoteList(api_audiences)));
  }

  // Time claims, with go-jose's leeway: nbf and iat may be up to a minute in the future, exp up
  // to a minute in the past.
  absl::StatusOr<std::optional<absl::Time>> exp = TimeClaim(claims, "exp");
  if (!exp.ok()) return exp.status();
  absl::StatusOr<std::optional<absl::Time>> nbf = TimeClaim(claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  absl::StatusOr<std::optional<absl::Time>> iat = TimeClaim(claims, "iat");
  if (!iat.ok()) return iat.status();
  if (nbf->has_value() && now + kTokenTimeLeeway < **nbf) {
    return Unauthenticated("service account token is not valid yet");
  }
  if (exp->has_value() && now - kTokenTimeLeeway > **exp) {
    return Unauthenticated("service account token has expired");
  }
  if (iat->has_value() && now + kTokenTimeLeeway < **iat) {
    return Unauthenticated("service account token is issued in the future");
  }
  const absl::Time invalid_if_deleted_before = now - kTokenTimeLeeway;

  const nlohmann::json* kube = ObjectAt(claims, "kubernetes.io");
  const nlohmann::json* sa_ref = kube == nullptr ? nullptr : ObjectAt(*kube, "serviceaccount");
  std::string ns = kube == nullptr ? "" : StringAt(*kube, "namespace");
  if (sa_ref == nullptr || ns.empty() || StringAt(*sa_ref, "name").empty()) {
    return Unauthenticated(
        "service account token lacks the kubernetes.io namespace/serviceaccount claims");
  }
  std::string sa_name = StringAt(*sa_ref, "name");
  std::string sa_uid = StringAt(*sa_ref, "uid");

  std::optional<nlohmann::json> sa = objects.Get("serviceaccounts", ns, sa_name);
  if (!sa.has_value()) {
    return Unauthenticated(absl::StrCat("serviceaccounts \"", sa_name, "\" not found"));
  }
  std::string current_uid = Uid(*sa);
  if (current_uid != sa_uid) {
    return Unauthenticated(absl::StrCat("service account UID (", current_uid,
                                        ") does not match claim (", sa_uid, ")"));
  }
  if (DeletedBefore(*sa, invalid_if_deleted_before)) {
    return Unauthenticated(absl::StrCat("service account ", ns, "/", sa_name, " has been deleted"));
  }

  if (const nlohmann::json* secret_ref = ObjectAt(*kube, "secret")) {
    std::optional<nlohmann::json> secret =
        objects.Get("secrets", ns, StringAt(*secret_ref, "name"));
    if (!secret.has_value()) {
      return Unauthenticated("service account token has been invalidated");
    }
    std::string secret_uid = Uid(*secret);
    std::string claimed_uid = StringAt(*secret_ref, "uid");
    if (secret_uid != claimed_uid) {
      return Unauthenticated(absl::StrCat("secret UID (", secret_uid,
                                          ") does not match service account secret ref claim (",
                                          claimed_uid, ")"));
    }
    if (DeletedBefore(*secret, invalid_if_deleted_before)) {
      return Unauthenticated("service account token has been invalidated");
    }
  }

  UserInfo user = ServiceAccountUser(ns, sa_name, sa_uid);
  std::string jti = StringAt(claims, "jti");
  if (!jti.empty()) user.extra[kCredentialIdExtra] = {absl::StrCat("JTI=", jti)};
  return user;
}

absl::StatusOr<UserInfo> ServiceAccountTokens::AuthenticateLegacy(
    std::string_view token, const nlohmann::json& claims, const ObjectReader& objects) const {
  std::string sub = StringAt(claims, "sub");
  std::string ns = StringAt(claims, "kubernetes.io/serviceaccount/namespace");
  std::string secret_name = StringAt(claims, "kubernetes.io/serviceaccount/secret.name");
  std::string sa_name = StringAt(claims, "kubernetes.io/serviceaccount/service-account.name");
  std::string sa_uid = StringAt(claims, "kubernetes.io/serviceaccount/service-account.uid");
  if (sub.empty()) return Unauthenticated("sub claim is missing");
  if (ns.empty()) return Unauthenticated("namespace claim is missing");
  if (secret_name.empty()) return Unauthenticated("secretName claim is missing");
  if (sa_name.empty()) return Unauthenticated("serviceAccountName claim is missing");
  if (sa_uid.empty()) return Unauthenticated("serviceAccountUID claim is missing");
  if (sub != absl::StrCat(kServiceAccountUsernamePrefix, ns, ":", sa_name)) {
    return Unauthenticated("sub claim is invalid");
  }

  std::optional<nlohmann::json> secret = objects.Get("secrets", ns, secret_name);
  if (!secret.has_value() || DeletedBefore(*secret, absl::InfiniteFuture())) {
    return Unauthenticated("Token has been invalidated");
  }
  if (StringAt(*secret, "type") != kServiceAccountTokenSecretType) {
    return Unauthenticated(absl::StrCat("secret ", ns, "/", secret_name, " is not of type ",
                                        kServiceAccountTokenSecretType,
                                        "; legacy tokens must live in such a Secret"));
  }
  std::string stored;
  const nlohmann::json* data = ObjectAt(*secret, "data");
  std::string stored_b64 = data == nullptr ? "" : StringAt(*data, "token");
  if (!absl::Base64Unescape(stored_b64, &stored) || stored.size() != token.size() ||
      CRYPTO_memcmp(stored.data(), token.data(), token.size()) != 0) {
    return Unauthenticated("Token does not match server's copy");
  }

  std::optional<nlohmann::json> sa = objects.Get("serviceaccounts", ns, sa_name);
  if (!sa.has_value()) {
    return Unauthenticated(absl::StrCat("serviceaccounts \"", sa_name, "\" not found"));
  }
  if (DeletedBefore(*sa, absl::InfiniteFuture())) {
    return Unauthenticated(absl::StrCat("ServiceAccount ", ns, "/", sa_name, " has been deleted"));
  }
  std::string current_uid = Uid(*sa);
  if (current_uid != sa_uid) {
    return Unauthenticated(
        absl::StrCat("ServiceAccount UID (", current_uid, ") does not match claim (", sa_uid, ")"));
  }

  const nlohmann::json* metadata = ObjectAt(*secret, "metadata");
  const nlohmann::json* labels = metadata == nullptr ? nullptr : ObjectAt(*metadata, "labels");
  if (labels != nullptr && !StringAt(*labels, kLegacyTokenInvalidSinceLabel).empty()) {
    return Unauthenticated(absl::StrFormat(
        "the token in secret %s/%s for service account %s/%s has been marked invalid. Use tokens "
        "from the TokenRequest API or manually created secret-based tokens, or remove the '%s' "
        "label from the secret to temporarily allow use of this token",
        ns, secret_name, ns, sa_name, kLegacyTokenInvalidSinceLabel));
  }

  return ServiceAccountUser(ns, sa_name, sa_uid);
}

}  // namespace kcred::devcluster
