#pragma once
// FakeKubeClient: an in-memory API server behind the KubeClient seam, for unit tests of the broker
// and rotation. It keeps the semantics kcred relies on: uid, resourceVersion and
// creationTimestamp set by the server; AlreadyExists, NotFound and Conflict (stale
// resourceVersion, failed delete precondition); creation only in an existing namespace; label
// selector lists; namespace deletion taking its objects along; TokenRequest with the API server's
// validation, tokens revoked when their bound Secret or ServiceAccount is deleted; and the token
// controller filling legacy kubernetes.io/service-account-token Secrets. Errors go through the
// same mapping as HttpKubeClient (kube_status.h), with the API server's messages.
//
// Tests arrange failures with FailNext (before the call takes effect) or FailNextAfterApplying
// (the change happens, the answer is lost), and look at what happened with CallCount, Peek and
// CheckToken. All methods are thread-safe.

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/kube/kube_client.h"

namespace kcred::kube {

enum class Verb {
  kGet,
  kList,
  kCreate,
  kUpdate,
  kDelete,
  kCreateToken,
  kReviewToken,
  kServerVersion
};

class FakeKubeClient final : public KubeClient {
 public:
  // `clock` stamps creationTimestamp and token expiry; it must outlive the fake.
  explicit FakeKubeClient(Clock& clock);

  // KubeClient. Deadlines are ignored: the fake answers at once.
  absl::StatusOr<nlohmann::json> Get(Resource resource, const std::string& namespace_name,
                                     const std::string& name, absl::Time deadline) override;
  absl::StatusOr<std::vector<nlohmann::json>> List(Resource resource,
                                                   const std::string& namespace_name,
                                                   const std::string& label_selector,
                                                   absl::Time deadline) override;
  absl::StatusOr<nlohmann::json> Create(Resource resource, const nlohmann::json& object,
                                        absl::Time deadline) override;
  absl::StatusOr<nlohmann::json> Update(Resource resource, const nlohmann::json& object,
                                        absl::Time deadline) override;
  absl::Status Delete(Resource resource, const std::string& namespace_name, const std::string& name,
                      const DeletePreconditions& preconditions, absl::Time deadline) override;
  absl::StatusOr<IssuedToken> CreateToken(const std::string& namespace_name,
                                          const std::string& service_account,
                                          const TokenRequestSpec& spec,
                                          absl::Time deadline) override;
  // Authenticated when CheckToken says kValid (audiences are not checked).
  absl::StatusOr<TokenReviewResult> ReviewToken(const SecretString& token,
                                                const std::vector<std::string>& audiences,
                                                absl::Time deadline) override;
  absl::StatusOr<ServerVersion> GetServerVersion(absl::Time deadline) override;
  // Later calls fail with CANCELLED (counted like others).
  void Cancel() override;

  // Error injection. The next `count` calls of `verb` on `resource` (nullopt: any kind; CreateToken
  // counts as kind ServiceAccount, ReviewToken and GetServerVersion as none) fail with `status` and
  // change nothing.
  void FailNext(Verb verb, std::optional<Resource> resource, int count, absl::Status status);
  // Like FailNext, but the call takes effect first and only its answer is replaced by `status`
  // (a timeout after the server applied the change).
  void FailNextAfterApplying(Verb verb, std::optional<Resource> resource, int count,
                             absl::Status status);
  // Drops every pending injected failure.
  void ClearFailures();

  // How many calls of `verb` (on `resource`, or any kind) were made, failed ones included.
  int CallCount(Verb verb, std::optional<Resource> resource = std::nullopt) const;
  // Every call, in order, as "<verb> <kind> <namespace>/<name>" (e.g. "create Secret ns/anchor-1").
  std::vector<std::string> Calls() const;

  // State access for arranging and checking tests; not counted, never failed.
  // Stores `object` as if created (namespace existence is not checked).
  absl::StatusOr<nlohmann::json> Seed(Resource resource, const nlohmann::json& object);
  std::optional<nlohmann::json> Peek(Resource resource, const std::string& namespace_name,
                                     const std::string& name) const;
  size_t ObjectCount(Resource resource) const;

  enum class TokenState { kValid, kExpired, kRevoked, kUnknown };
  // What the API server would think of `token` now: issued here and still valid, past its expiry,
  // revoked (its bound Secret or ServiceAccount was deleted), or never issued.
  TokenState CheckToken(const SecretString& token) const;
  // Tokens issued and neither revoked nor expired.
  int ValidTokenCount() const;

  void SetServerVersion(ServerVersion version);
  // Whether the token controller fills kubernetes.io/service-account-token Secrets (default true;
  // false lets tests exercise the broker's bounded wait).
  void SetFillLegacyTokenSecrets(bool fill);
  // --service-account-max-token-expiration: longer requests are shortened (default: no cap).
  void SetMaxTokenExpiration(absl::Duration max);

 private:
  using Key = std::tuple<Resource, std::string, std::string>;  // kind, namespace, name

  struct Token {
    std::string namespace_name;
    std::string service_account;
    std::string service_account_uid;
    std::string secret_name;  // bound or legacy Secret; empty when unbound
    std::string secret_uid;
    absl::Time expiration = absl::InfiniteFuture();  // legacy tokens do not expire
    bool revoked = false;
  };

  struct Injection {
    Verb verb;
    std::optional<Resource> resource;
    int remaining;
    absl::Status status;
    bool after_applying;
  };

  // Records the call and returns the injected failure to apply (before or after), if any.
  std::optional<Injection> TakeInjectionLocked(Verb verb, std::optional<Resource> resource,
                                               const std::string& description)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<nlohmann::json> CreateLocked(Resource resource, const nlohmann::json& object,
                                              bool check_namespace)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DeleteLocked(Resource resource, const std::string& namespace_name,
                            const std::string& name, const DeletePreconditions& preconditions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Side effects of removing an object: revocations, cascades.
  void OnDeletedLocked(Resource resource, const nlohmann::json& object)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillLegacySecretLocked(nlohmann::json& secret) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewUidLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewTokenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NextResourceVersionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<Key, nlohmann::json> objects_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);  // by token value
  std::vector<Injection> injections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<Verb, std::optional<Resource>>> call_kinds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  uint64_t resource_version_ ABSL_GUARDED_BY(mu_) = 1000;
  uint64_t uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t token_counter_ ABSL_GUARDED_BY(mu_) = 0;
  ServerVersion version_ ABSL_GUARDED_BY(mu_);
  bool fill_legacy_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration max_token_expiration_ ABSL_GUARDED_BY(mu_) = absl::InfiniteDuration();
};

// Whether `labels` (a JSON object of strings, or null) match a Kubernetes label selector
// ("a=b,c!=d,e,!f,g in (x,y),h notin (z)"). InvalidArgument for a malformed selector.
absl::StatusOr<bool> MatchesLabelSelector(absl::string_view selector, const nlohmann::json& labels);

}  // namespace kcred::kube
