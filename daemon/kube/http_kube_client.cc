#include "daemon/kube/http_kube_client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "daemon/kube/kube_responses.h"
#include "daemon/kube/kube_status.h"
#include "spdlog/spdlog.h"

#ifndef KCRED_VERSION_STRING
#define KCRED_VERSION_STRING "0.0.0"
#endif

namespace kcred::kube {
namespace {

constexpr size_t kMaxResponseBytes = 64 << 20;
constexpr int kListPageSize = 500;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct ResponseSink {
  std::string body;
  std::string retry_after;
  bool too_large = false;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<ResponseSink*>(user);
  size_t n = size * nmemb;
  if (sink->body.size() + n > kMaxResponseBytes) {
    sink->too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<ResponseSink*>(user);
  size_t n = size * nmemb;
  absl::string_view line(data, n);
  // A new status line starts a new response (after a redirect or 100-continue).
  if (absl::StartsWith(line, "HTTP/")) sink->retry_after.clear();
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos &&
      absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), "Retry-After")) {
    sink->retry_after = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return n;
}

// Frees a header list after wiping its strings: one of them carries the bearer token.
void FreeHeaders(curl_slist* headers) {
  for (curl_slist* h = headers; h != nullptr; h = h->next) {
    if (h->data != nullptr) OPENSSL_cleanse(h->data, std::strlen(h->data));
  }
  curl_slist_free_all(headers);
}

absl::Status Annotate(const absl::Status& status, absl::string_view suffix) {
  absl::Status out(status.code(), absl::StrCat(status.message(), suffix));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

std::string NamespaceOf(const nlohmann::json& object) {
  const nlohmann::json* metadata = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (metadata == nullptr || !metadata->is_object()) return "";
  return metadata->value("namespace", "");
}

// Checks `object` for a write of `resource`, fills apiVersion/kind, and returns its path parts.
absl::StatusOr<nlohmann::json> PrepareObject(Resource resource, const nlohmann::json& object,
                                             std::string* namespace_name, std::string* name) {
  const ResourceInfo& info = Describe(resource);
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(info.kind, ": the object needs a metadata object with a name"));
  }
  nlohmann::json out = object;
  const std::string api_version = ApiVersion(resource);
  if (!out.contains("apiVersion")) out["apiVersion"] = api_version;
  if (!out.contains("kind")) out["kind"] = std::string(info.kind);
  if (out["apiVersion"] != api_version || out["kind"] != std::string(info.kind)) {
    return absl::InvalidArgumentError(absl::StrCat("object of kind ", out["kind"].dump(), " (",
                                                   out["apiVersion"].dump(), ") sent as ",
                                                   info.kind, " (", api_version, ")"));
  }
  *name = out["metadata"].value("name", "");
  *namespace_name = NamespaceOf(out);
  if (name->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(info.kind, ": metadata.name is required"));
  }
  return out;
}

// libcurl's progress callback (at least once a second, connecting included): a non-zero answer
// aborts the transfer with CURLE_ABORTED_BY_CALLBACK. `cancelling` is the client's flag.
int AbortWhenCancelled(void* cancelling, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(cancelling)->load() ? 1 : 0;
}

}  // namespace

std::string DefaultUserAgent() { return absl::StrCat("kcred/", KCRED_VERSION_STRING); }

struct HttpKubeClient::Attempt {
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;
  bool request_started = false;  // pre-transfer reached: the request may have been sent
  long http_status = 0;
  std::string body;
  std::string retry_after;
};

// Idle curl easy handles. A handle keeps its connections open between uses, so handing the same
// handles out again is what makes connections reused.
class HttpKubeClient::HandlePool {
 public:
  explicit HandlePool(size_t max_idle) : max_idle_(std::max<size_t>(max_idle, 1)) {}
  ~HandlePool() {
    for (CURL* handle : idle_) curl_easy_cleanup(handle);
  }
  CURL* Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }
  void Return(CURL* handle) {
    {
      absl::MutexLock lock(&mu_);
      if (idle_.size() < max_idle_) {
        idle_.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }

 private:
  const size_t max_idle_;
  absl::Mutex mu_;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<HttpKubeClient>> HttpKubeClient::Create(
    HttpKubeClientOptions options, Clock& clock) {
  std::string where = options.cluster_name.empty()
                          ? "kube client"
                          : absl::StrCat("cluster \"", options.cluster_name, "\"");
  if (!absl::StartsWith(options.server, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": server \"", options.server, "\" must be an https:// URL"));
  }
  if (options.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no PEM certificate in the CA; give the cluster's CA certificate"));
  }
  if (options.credential == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no credential; give a token file or a kubeconfig"));
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  if (options.qps <= 0 || options.burst < 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": qps must be > 0 and burst >= 1 (got ",
                                                   options.qps, "/", options.burst, ")"));
  }
  GlobalInitOnce();
  return std::unique_ptr<HttpKubeClient>(new HttpKubeClient(std::move(options), clock));
}

HttpKubeClient::HttpKubeClient(HttpKubeClientOptions options, Clock& clock)
    : options_(std::move(options)),
      base_url_(absl::StripSuffix(options_.server, "/")),
      clock_(clock),
      limiter_(clock, options_.qps, options_.burst),
      logger_(options_.logger ? options_.logger : Logger("kube")),
      pool_(std::make_unique<HandlePool>(options_.max_idle_connections)) {}

HttpKubeClient::~HttpKubeClient() = default;

absl::Time HttpKubeClient::EffectiveDeadline(absl::Time deadline) const {
  if (deadline == absl::InfiniteFuture()) return clock_.Now() + options_.call_timeout;
  return deadline;
}

absl::Status HttpKubeClient::WithCluster(const absl::Status& status) const {
  if (status.ok() || options_.cluster_name.empty()) return status;
  absl::Status out(status.code(),
                   absl::StrCat("cluster \"", options_.cluster_name, "\": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::Duration HttpKubeClient::NextDelay(int attempt) {
  absl::MutexLock lock(&random_mu_);
  return BackoffDelay(options_.backoff, attempt, random_);
}

HttpKubeClient::Attempt HttpKubeClient::Perform(const std::string& method, const std::string& path,
                                                const std::string& body, const AuthMaterial& auth,
                                                absl::Duration timeout) {
  Attempt attempt;
  CURL* handle = pool_->Take();
  if (handle == nullptr) {
    attempt.curl_code = CURLE_OUT_OF_MEMORY;
    attempt.curl_error = "curl_easy_init failed";
    return attempt;
  }
  // Reset keeps the handle's live connections and TLS session cache; everything else is set anew.
  curl_easy_reset(handle);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  ResponseSink sink;
  std::string url = base_url_ + path;

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
  if (!auth.bearer_token.empty()) {
    std::string header = "Authorization: Bearer " + auth.bearer_token.Reveal();
    headers = curl_slist_append(headers, header.c_str());
    OPENSSL_cleanse(header.data(), header.size());
  }

  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &AbortWhenCancelled);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &cancelling_);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(
                       1, absl::ToInt64Milliseconds(std::min(timeout, options_.connect_timeout)))));

  // TLS: verify the peer and its name against the cluster CA only; the system store is not used.
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(handle, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(handle, CURLOPT_CAPATH, nullptr);
  curl_blob ca_blob{const_cast<char*>(options_.ca_pem.data()), options_.ca_pem.size(),
                    CURL_BLOB_COPY};
  curl_easy_setopt(handle, CURLOPT_CAINFO_BLOB, &ca_blob);
  if (auth.client_cert.has_value()) {
    curl_blob cert_blob{const_cast<char*>(auth.client_cert->cert_pem.data()),
                        auth.client_cert->cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key_blob{const_cast<char*>(auth.client_cert->key_pem.Reveal().data()),
                       auth.client_cert->key_pem.Reveal().size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLKEY_BLOB, &key_blob);
  }

  if (method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    if (method != "POST") curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST") {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }

  attempt.curl_code = curl_easy_perform(handle);
  curl_off_t pretransfer_us = 0;
  curl_easy_getinfo(handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
  attempt.request_started = pretransfer_us > 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &attempt.http_status);
  if (attempt.curl_code != CURLE_OK) {
    attempt.curl_error = error_buffer[0] != '\0'
                             ? std::string(error_buffer)
                             : std::string(curl_easy_strerror(attempt.curl_code));
    if (sink.too_large) attempt.curl_error = "the response exceeds 64 MiB";
  }
  // Drop the handle's pointers to this frame before it goes back to the pool.
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
  FreeHeaders(headers);
  pool_->Return(handle);
  attempt.body = std::move(sink.body);
  attempt.retry_after = std::move(sink.retry_after);
  return attempt;
}

namespace {

// How a failed transfer (no HTTP answer) ends: its code for the caller and whether retrying it is
// allowed by the rule in retry_policy.h.
struct TransportFailure {
  absl::StatusCode code;
  AttemptOutcome outcome;
  std::string hint;
};

TransportFailure ClassifyTransport(CURLcode code, bool request_started) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return {absl::StatusCode::kUnavailable, AttemptOutcome::kNeverRetryable,
              "the server's certificate does not verify against the cluster CA (or does not name "
              "this host); check the cluster's CA and server URL"};
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
      return {absl::StatusCode::kFailedPrecondition, AttemptOutcome::kNeverRetryable,
              "the client certificate or key could not be used; check kcredd's credential"};
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {absl::StatusCode::kInvalidArgument, AttemptOutcome::kNeverRetryable,
              "check the cluster's server URL"};
    case CURLE_OPERATION_TIMEDOUT:
      return {absl::StatusCode::kDeadlineExceeded,
              request_started ? AttemptOutcome::kMaybeSent : AttemptOutcome::kNotSent,
              "the API server did not answer in time"};
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return {absl::StatusCode::kUnavailable, AttemptOutcome::kNotSent,
              "the API server is not reachable"};
    default:
      return {absl::StatusCode::kUnavailable,
              request_started ? AttemptOutcome::kMaybeSent : AttemptOutcome::kNotSent,
              "the connection to the API server failed"};
  }
}

}  // namespace

void HttpKubeClient::Cancel() {
  absl::MutexLock lock(&cancel_mu_);
  cancelled_ = true;
  cancelling_ = true;
}

absl::Status HttpKubeClient::CancelledError(const std::string& request,
                                            const absl::Status& last) const {
  return WithCluster(absl::CancelledError(
      absl::StrCat(request, ": cancelled, kcredd is stopping",
                   last.ok() ? "" : absl::StrCat(" (last error: ", last.message(), ")"))));
}

absl::StatusOr<std::string> HttpKubeClient::Call(const std::string& method, const std::string& path,
                                                 const std::string& body, absl::Time deadline) {
  deadline = EffectiveDeadline(deadline);
  const std::string request = absl::StrCat(method, " ", path);
  bool refreshed_credential = false;
  absl::Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (cancelling_) return CancelledError(request, last);
    if (absl::Status slot = limiter_.Acquire(deadline); !slot.ok()) {
      if (!last.ok()) return WithCluster(Annotate(last, absl::StrCat("; then ", slot.message())));
      return WithCluster(absl::Status(slot.code(), absl::StrCat(request, ": ", slot.message())));
    }
    absl::Duration remaining = deadline - clock_.Now();
    if (remaining <= absl::ZeroDuration()) {
      return WithCluster(absl::DeadlineExceededError(
          absl::StrCat(request, ": deadline exceeded before the request was sent",
                       last.ok() ? "" : absl::StrCat(" (last error: ", last.message(), ")"))));
    }
    absl::StatusOr<AuthMaterial> auth = options_.credential->Get();
    if (!auth.ok()) {
      return WithCluster(
          absl::Status(auth.status().code(), absl::StrCat(request, ": ", auth.status().message())));
    }

    absl::Time started = clock_.Now();
    Attempt result =
        Perform(method, path, body, *auth, std::min(remaining, options_.request_timeout));
    absl::Duration took = clock_.Now() - started;
    if (cancelling_) return CancelledError(request, last);

    bool retryable = false;
    std::optional<absl::Duration> retry_after;
    if (result.curl_code == CURLE_OK) {
      int http_status = static_cast<int>(result.http_status);
      logger_->debug("{} -> {} in {} (attempt {})", request, http_status,
                     absl::FormatDuration(took), attempt + 1);
      if (http_status >= 200 && http_status < 300) return std::move(result.body);
      if (http_status == 401 && !refreshed_credential && options_.credential->Refresh()) {
        // The credential source changed since the last read (a rotated token file): try again
        // at once with the new material.
        refreshed_credential = true;
        last = StatusFromResponse(http_status, result.body, method, path);
        logger_->info("{}: 401 Unauthorized; {} changed, retrying with the new credential", request,
                      options_.credential->Description());
        continue;
      }
      last = StatusFromResponse(http_status, result.body, method, path);
      retryable = IsRetryable(method, AttemptOutcome::kHttpStatus, http_status);
      retry_after = ParseRetryAfter(result.retry_after);
      if (!retry_after.has_value()) retry_after = RetryAfterFromStatusBody(result.body);
    } else {
      TransportFailure failure = ClassifyTransport(result.curl_code, result.request_started);
      last = absl::Status(failure.code,
                          absl::StrCat(request, ": ", result.curl_error, "; ", failure.hint));
      if (failure.code == absl::StatusCode::kDeadlineExceeded && clock_.Now() >= deadline) {
        return WithCluster(last);
      }
      retryable = IsRetryable(method, failure.outcome, 0);
      logger_->debug("{} failed in {} (attempt {}): {}", request, absl::FormatDuration(took),
                     attempt + 1, result.curl_error);
    }

    if (!retryable) return WithCluster(last);
    if (attempt + 1 >= options_.max_attempts) break;
    absl::Duration delay = retry_after.has_value() ? *retry_after : NextDelay(attempt);
    absl::Time now = clock_.Now();
    if (now + delay >= deadline) {
      return WithCluster(Annotate(
          last, absl::StrCat("; not retried: the next attempt (in ", absl::FormatDuration(delay),
                             ") would be after the deadline")));
    }
    logger_->warn("{}: {}; retrying in {} (attempt {} of {})", request, std::string(last.message()),
                  absl::FormatDuration(delay), attempt + 2, options_.max_attempts);
    absl::MutexLock lock(&cancel_mu_);
    clock_.InterruptibleSleepUntil(&cancel_mu_, absl::Condition(&cancelled_), now + delay);
  }
  return WithCluster(
      Annotate(last, absl::StrCat("; gave up after ", options_.max_attempts, " attempts")));
}

absl::StatusOr<nlohmann::json> HttpKubeClient::CallJson(const std::string& method,
                                                        const std::string& path,
                                                        const std::string& body,
                                                        absl::Time deadline) {
  absl::StatusOr<std::string> response = Call(method, path, body, deadline);
  if (!response.ok()) return response.status();
  absl::StatusOr<nlohmann::json> parsed = ParseResponseObject(*response, method, path);
  // Bodies can hold tokens (TokenRequest answers, legacy token Secrets): wipe the raw copy.
  OPENSSL_cleanse(response->data(), response->size());
  if (!parsed.ok()) return WithCluster(parsed.status());
  return parsed;
}

absl::StatusOr<nlohmann::json> HttpKubeClient::Get(Resource resource,
                                                   const std::string& namespace_name,
                                                   const std::string& name, absl::Time deadline) {
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  if (!path.ok()) return path.status();
  return CallJson("GET", *path, "", deadline);
}

absl::StatusOr<std::vector<nlohmann::json>> HttpKubeClient::List(Resource resource,
                                                                 const std::string& namespace_name,
                                                                 const std::string& label_selector,
                                                                 absl::Time deadline) {
  absl::StatusOr<std::string> collection = CollectionPath(resource, namespace_name);
  if (!collection.ok()) return collection.status();
  deadline = EffectiveDeadline(deadline);
  std::vector<nlohmann::json> items;
  std::string continue_token;
  do {
    std::string path = absl::StrCat(*collection, "?limit=", kListPageSize);
    if (!label_selector.empty()) {
      absl::StrAppend(&path, "&labelSelector=", EscapeUrlComponent(label_selector));
    }
    if (!continue_token.empty()) {
      absl::StrAppend(&path, "&continue=", EscapeUrlComponent(continue_token));
    }
    absl::StatusOr<nlohmann::json> page = CallJson("GET", path, "", deadline);
    if (!page.ok()) return page.status();
    ListPage decoded = DecodeListPage(*page);
    for (nlohmann::json& item : decoded.items) items.push_back(std::move(item));
    continue_token = std::move(decoded.continue_token);
  } while (!continue_token.empty());
  return items;
}

absl::StatusOr<nlohmann::json> HttpKubeClient::Create(Resource resource,
                                                      const nlohmann::json& object,
                                                      absl::Time deadline) {
  std::string namespace_name, name;
  absl::StatusOr<nlohmann::json> prepared = PrepareObject(resource, object, &namespace_name, &name);
  if (!prepared.ok()) return prepared.status();
  // Validates the namespace/name pair for this kind; the POST goes to the collection.
  if (absl::StatusOr<std::string> check = ObjectPath(resource, namespace_name, name); !check.ok()) {
    return check.status();
  }
  absl::StatusOr<std::string> path = CollectionPath(resource, namespace_name);
  if (!path.ok()) return path.status();
  return CallJson("POST", *path, prepared->dump(), deadline);
}

absl::StatusOr<nlohmann::json> HttpKubeClient::Update(Resource resource,
                                                      const nlohmann::json& object,
                                                      absl::Time deadline) {
  std::string namespace_name, name;
  absl::StatusOr<nlohmann::json> prepared = PrepareObject(resource, object, &namespace_name, &name);
  if (!prepared.ok()) return prepared.status();
  if ((*prepared)["metadata"].value("resourceVersion", "").empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(resource).kind, " \"", name,
                     "\": update without metadata.resourceVersion refused; read the object first"));
  }
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  if (!path.ok()) return path.status();
  return CallJson("PUT", *path, prepared->dump(), deadline);
}

absl::Status HttpKubeClient::Delete(Resource resource, const std::string& namespace_name,
                                    const std::string& name,
                                    const DeletePreconditions& preconditions, absl::Time deadline) {
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  if (!path.ok()) return path.status();
  nlohmann::json options{
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", "Background"}};
  if (!preconditions.uid.empty()) options["preconditions"]["uid"] = preconditions.uid;
  if (!preconditions.resource_version.empty()) {
    options["preconditions"]["resourceVersion"] = preconditions.resource_version;
  }
  return Call("DELETE", *path, options.dump(), deadline).status();
}

absl::StatusOr<IssuedToken> HttpKubeClient::CreateToken(const std::string& namespace_name,
                                                        const std::string& service_account,
                                                        const TokenRequestSpec& spec,
                                                        absl::Time deadline) {
  absl::StatusOr<std::string> sa_path =
      ObjectPath(Resource::kServiceAccount, namespace_name, service_account);
  if (!sa_path.ok()) return sa_path.status();
  const std::string path = *sa_path + "/token";
  nlohmann::json request{{"kind", "TokenRequest"},
                         {"apiVersion", "authentication.k8s.io/v1"},
                         {"metadata", {{"name", service_account}, {"namespace", namespace_name}}},
                         {"spec",
                          {{"audiences", spec.audiences},
                           {"expirationSeconds", absl::ToInt64Seconds(spec.expiration)}}}};
  if (!spec.bound_secret_name.empty()) {
    request["spec"]["boundObjectRef"] = {{"kind", "Secret"},
                                         {"apiVersion", "v1"},
                                         {"name", spec.bound_secret_name},
                                         {"uid", spec.bound_secret_uid}};
  }
  absl::StatusOr<nlohmann::json> response = CallJson("POST", path, request.dump(), deadline);
  if (!response.ok()) return response.status();
  absl::StatusOr<IssuedToken> issued = DecodeTokenRequestAnswer(*response, path);
  if (!issued.ok()) return WithCluster(issued.status());
  return issued;
}

absl::StatusOr<TokenReviewResult> HttpKubeClient::ReviewToken(
    const SecretString& token, const std::vector<std::string>& audiences, absl::Time deadline) {
  static constexpr char kPath[] = "/apis/authentication.k8s.io/v1/tokenreviews";
  nlohmann::json request{{"kind", "TokenReview"},
                         {"apiVersion", "authentication.k8s.io/v1"},
                         {"spec", {{"token", token.Reveal()}}}};
  if (!audiences.empty()) request["spec"]["audiences"] = audiences;
  std::string body = request.dump();
  // The request holds the token: wipe both copies before they are freed.
  OPENSSL_cleanse(request["spec"]["token"].get_ref<std::string&>().data(),
                  request["spec"]["token"].get_ref<std::string&>().size());
  absl::StatusOr<nlohmann::json> response = CallJson("POST", kPath, body, deadline);
  OPENSSL_cleanse(body.data(), body.size());
  if (!response.ok()) return response.status();
  // The answer echoes spec.token: wipe it too.
  if (response->contains("spec") && (*response)["spec"].is_object() &&
      (*response)["spec"].contains("token") && (*response)["spec"]["token"].is_string()) {
    std::string& echoed = (*response)["spec"]["token"].get_ref<std::string&>();
    OPENSSL_cleanse(echoed.data(), echoed.size());
  }
  const nlohmann::json& status = (*response)["status"];
  if (!status.is_object() || !status.contains("authenticated") ||
      !status["authenticated"].is_boolean()) {
    // An answer without status.authenticated means the token did not authenticate.
    if (status.is_object() && !status.contains("authenticated")) {
      TokenReviewResult result;
      result.error = status.value("error", "");
      return result;
    }
    return WithCluster(absl::InternalError(
        absl::StrCat("POST ", kPath, ": the TokenReview answer has no status")));
  }
  TokenReviewResult result;
  result.authenticated = status["authenticated"].get<bool>();
  if (status.contains("user") && status["user"].is_object()) {
    result.username = status["user"].value("username", "");
  }
  if (status.contains("error") && status["error"].is_string()) {
    result.error = status["error"].get<std::string>();
  }
  return result;
}

absl::StatusOr<ServerVersion> HttpKubeClient::GetServerVersion(absl::Time deadline) {
  absl::StatusOr<nlohmann::json> response = CallJson("GET", "/version", "", deadline);
  if (!response.ok()) return response.status();
  absl::StatusOr<ServerVersion> version = DecodeServerVersion(*response);
  if (!version.ok()) return WithCluster(version.status());
  return version;
}

}  // namespace kcred::kube
