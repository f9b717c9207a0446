#pragma once
// HttpKubeClient: the production KubeClient, JSON over HTTPS with libcurl.
//
// - TLS is always verified, against the cluster CA given in memory and nothing else (no system
//   trust store); there is no switch to turn verification off.
// - Connections are kept alive and reused: a small pool of curl easy handles, each keeping its
//   connection open between calls. Concurrent callers each borrow their own handle.
// - Every attempt takes a slot from the cluster's token bucket (qps/burst).
// - Failed attempts are retried with backoff and full jitter as retry_policy.h describes, bounded
//   by the call's deadline and by max_attempts. A 401 makes the credential re-read its source;
//   when that yields a new token the request is tried once more.
// - Request bodies and responses are never logged (TokenRequest answers hold tokens), and the
//   Authorization header appears nowhere but on the wire.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/kube/credential.h"
#include "daemon/kube/kube_client.h"
#include "daemon/kube/rate_limiter.h"
#include "daemon/kube/retry_policy.h"

namespace spdlog {
class logger;
}

namespace kcred::kube {

// "kcred/<version>".
std::string DefaultUserAgent();

struct HttpKubeClientOptions {
  std::string cluster_name;  // prefixes messages: cluster "prod": ...
  std::string server;        // "https://host:port", optionally with a path prefix
  std::string ca_pem;        // the cluster CA (PEM, one or more certificates); required
  CredentialPtr credential;  // required
  // Requests per second and burst towards this API server. Between client-go's 5/10 and
  // controller-runtime's 20/30: provisioning one account takes about eight calls, so a burst of
  // 20 serves two at once and 10 qps keeps a fleet's rotations from crowding the server.
  double qps = 10;
  int burst = 20;
  absl::Duration request_timeout = absl::Seconds(30);  // one attempt, connect included
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration call_timeout = absl::Seconds(60);  // the deadline when a call passes none
  int max_attempts = 5;
  BackoffPolicy backoff;
  std::string user_agent = DefaultUserAgent();
  size_t max_idle_connections = 8;         // handles kept open beyond this are closed after use
  std::shared_ptr<spdlog::logger> logger;  // null: kcred::Logger("kube")
};

class HttpKubeClient final : public KubeClient {
 public:
  // Validates the options (https URL, CA and credential present). `clock` must outlive the
  // client.
  static absl::StatusOr<std::unique_ptr<HttpKubeClient>> Create(HttpKubeClientOptions options,
                                                                Clock& clock);
  ~HttpKubeClient() override;
  HttpKubeClient(const HttpKubeClient&) = delete;
  HttpKubeClient& operator=(const HttpKubeClient&) = delete;

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
  absl::StatusOr<TokenReviewResult> ReviewToken(const SecretString& token,
                                                const std::vector<std::string>& audiences,
                                                absl::Time deadline) override;
  absl::StatusOr<ServerVersion> GetServerVersion(absl::Time deadline) override;
  // Ends retry waits at once and aborts transfers in progress within about a second (libcurl's
  // progress callback); later calls fail without a request.
  void Cancel() override;

  const HttpKubeClientOptions& options() const { return options_; }

 private:
  struct Attempt;
  class HandlePool;

  HttpKubeClient(HttpKubeClientOptions options, Clock& clock);

  // Sends the request with retries; returns the 2xx body or the mapped error.
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& path,
                                   const std::string& body, absl::Time deadline);
  // One attempt on a pooled handle.
  Attempt Perform(const std::string& method, const std::string& path, const std::string& body,
                  const AuthMaterial& auth, absl::Duration timeout);
  absl::StatusOr<nlohmann::json> CallJson(const std::string& method, const std::string& path,
                                          const std::string& body, absl::Time deadline);
  absl::Time EffectiveDeadline(absl::Time deadline) const;
  absl::Status WithCluster(const absl::Status& status) const;
  absl::Duration NextDelay(int attempt);
  // CANCELLED for `request`, mentioning the last error when there was one.
  absl::Status CancelledError(const std::string& request, const absl::Status& last) const;

  const HttpKubeClientOptions options_;
  const std::string base_url_;
  Clock& clock_;
  TokenBucket limiter_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<HandlePool> pool_;
  absl::Mutex cancel_mu_;
  bool cancelled_ ABSL_GUARDED_BY(cancel_mu_) = false;
  std::atomic<bool> cancelling_{false};  // cancelled_, for libcurl's callback (lock-free)
  absl::Mutex random_mu_;
  absl::BitGen random_ ABSL_GUARDED_BY(random_mu_);
};

}  // namespace kcred::kube
