#pragma once
// ServiceAccount tokens as the Kubernetes API server issues and checks them: RS256 JWTs with the
// reference's claims for TokenRequest (bound) tokens, and legacy Secret-based tokens.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "devcluster/auth/object_reader.h"
#include "devcluster/auth/user_info.h"

namespace kcred::devcluster {

// An RSA private key that signs tokens (RS256); the header carries its key id.
class TokenSigner {
 public:
  // Generates a new 2048-bit RSA key, as PKCS#8 PEM.
  static absl::StatusOr<std::string> GenerateKeyPem();
  // Loads a PEM private key; InvalidArgument when it is not an RSA key.
  static absl::StatusOr<TokenSigner> FromPem(const std::string& private_key_pem);

  // kid: base64url(SHA-256(DER public key)), like kube-apiserver.
  const std::string& key_id() const;
  // header.payload.signature with {"alg":"RS256","kid":...}.
  std::string Sign(const nlohmann::json& claims) const;
  // Checks the header (alg RS256, our kid) and the signature; returns the claims. The error never
  // contains the token.
  absl::StatusOr<nlohmann::json> Verify(std::string_view token) const;

  // The public half as PEM (SubjectPublicKeyInfo), for publishing the verification key.
  std::string PublicKeyPem() const;

 private:
  // The parsed key and its id; shared so copies are cheap and all copies verify without re-parsing.
  // Immutable after construction, so concurrent Sign/Verify calls are safe.
  struct Key;
  explicit TokenSigner(std::shared_ptr<const Key> key);

  std::shared_ptr<const Key> key_;
};

struct SecretRef {
  std::string name;
  std::string uid;
};

struct BoundTokenRequest {
  std::string namespace_name;
  std::string service_account_name;
  std::string service_account_uid;
  std::vector<std::string> audiences;  // already defaulted by the caller
  absl::Time issued_at;
  absl::Time expires_at;
  std::optional<SecretRef> bound_secret;
};

class ServiceAccountTokens {
 public:
  ServiceAccountTokens(const TokenSigner& signer, std::string issuer);

  const std::string& issuer() const;
  // A TokenRequest JWT with iss, sub, aud, exp, iat, nbf, jti and the "kubernetes.io" claims.
  std::string IssueBound(const BoundTokenRequest& request) const;
  // A legacy token (iss "kubernetes/serviceaccount", no exp/aud) for the Secret `secret_name`.
  std::string IssueLegacy(std::string_view namespace_name, std::string_view service_account_name,
                          std::string_view service_account_uid, std::string_view secret_name) const;

  // Authenticates a bearer token against the objects as they are now: signature, expiry, audience
  // (one of `api_audiences`), ServiceAccount existence and uid, bound Secret existence and uid; for
  // legacy tokens the Secret must exist and hold exactly this token. Returns the user
  // (system:serviceaccount:NS:NAME, groups system:serviceaccounts, system:serviceaccounts:NS,
  // system:authenticated; extra authentication.kubernetes.io/credential-id JTI=...). Errors are
  // Unauthenticated with the reason kube-apiserver gives ("service account token has expired",
  // ...); they never contain the token. Like kube-apiserver, exp/nbf/iat allow kTokenTimeLeeway of
  // clock skew, and legacy tokens (which carry no audience) are not restricted by `api_audiences`.
  // Thread-safe; copies share one cache of verified signatures.
  absl::StatusOr<UserInfo> Authenticate(std::string_view token, absl::Time now,
                                        const ObjectReader& objects,
                                        const std::vector<std::string>& api_audiences) const;

 private:
  absl::StatusOr<UserInfo> AuthenticateBound(const nlohmann::json& claims, absl::Time now,
                                             const ObjectReader& objects,
                                             const std::vector<std::string>& api_audiences) const;
  absl::StatusOr<UserInfo> AuthenticateLegacy(std::string_view token, const nlohmann::json& claims,
                                              const ObjectReader& objects) const;

  // Claims of tokens whose signature already verified, keyed by the token text, so repeated
  // requests with the same token skip the RSA work; expiry and objects are checked every time.
  struct VerifiedCache;
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> VerifiedClaims(
      std::string_view token) const;

  TokenSigner signer_;
  std::string issuer_;
  std::shared_ptr<VerifiedCache> verified_;
};

// The issuer of legacy Secret-based tokens.
inline constexpr char kLegacyTokenIssuer[] = "kubernetes/serviceaccount";
// The label that marks a legacy token Secret as no longer usable.
inline constexpr char kLegacyTokenInvalidSinceLabel[] = "kubernetes.io/legacy-token-invalid-since";
// The clock skew tolerated on exp/nbf/iat, as go-jose's jwt.DefaultLeeway that kube-apiserver uses.
inline constexpr absl::Duration kTokenTimeLeeway = absl::Minutes(1);

}  // namespace kcred::devcluster
