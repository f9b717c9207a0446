#include "daemon/kube/fake_kube_client.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/label_selector.h"
#include "common/names.h"
#include "daemon/kube/kube_status.h"

namespace kcred::kube {
namespace {

constexpr absl::string_view kLegacyTokenType = "kubernetes.io/service-account-token";
constexpr absl::string_view kSaNameAnnotation = "kubernetes.io/service-account.name";
constexpr absl::string_view kSaUidAnnotation = "kubernetes.io/service-account.uid";
constexpr absl::string_view kDefaultAudience = "https://kubernetes.default.svc.cluster.local";

absl::string_view VerbName(Verb verb) {
  switch (verb) {
    case Verb::kGet:
      return "get";
    case Verb::kList:
      return "list";
    case Verb::kCreate:
      return "create";
    case Verb::kUpdate:
      return "update";
    case Verb::kDelete:
      return "delete";
    case Verb::kCreateToken:
      return "createtoken";
    case Verb::kReviewToken:
      return "reviewtoken";
    case Verb::kServerVersion:
      return "version";
  }
  return "?";
}

absl::string_view MethodOf(Verb verb) {
  switch (verb) {
    case Verb::kCreate:
    case Verb::kCreateToken:
    case Verb::kReviewToken:
      return "POST";
    case Verb::kUpdate:
      return "PUT";
    case Verb::kDelete:
      return "DELETE";
    default:
      return "GET";
  }
}

// The error an API server would send, mapped exactly as HttpKubeClient maps it.
absl::Status ApiError(Verb verb, const std::string& path, int code, absl::string_view reason,
                      absl::string_view message) {
  return StatusFromResponse(code, MakeStatusBody(code, reason, message).dump(), MethodOf(verb),
                            path);
}

std::string MetaString(const nlohmann::json& object, const char* key) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  const nlohmann::json& metadata = object["metadata"];
  if (!metadata.contains(key) || !metadata[key].is_string()) return "";
  return metadata[key].get<std::string>();
}

absl::Status ValidateName(Resource resource, const std::string& name) {
  std::string what = absl::StrCat(Describe(resource).kind, " name");
  switch (resource) {
    case Resource::kNamespace:
      return ValidateDns1123Label(name, what);
    case Resource::kServiceAccount:
    case Resource::kSecret:
      return ValidateDns1123Subdomain(name, what);
    default:
      return ValidatePathSegmentName(name, what);
  }
}

}  // namespace

absl::StatusOr<bool> MatchesLabelSelector(absl::string_view selector,
                                          const nlohmann::json& labels) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  if (!parsed.ok()) return parsed.status();
  std::map<std::string, std::string> values;
  if (labels.is_object()) {
    for (const auto& [key, value] : labels.items()) {
      if (value.is_string()) values[key] = value.get<std::string>();
    }
  }
  return parsed->Matches(values);
}

FakeKubeClient::FakeKubeClient(Clock& clock) : clock_(clock) {
  version_.major = "1";
  version_.minor = "31";
  version_.git_version = "v1.31.0";
  version_.platform = "linux/amd64";
}

std::string FakeKubeClient::NewUidLocked() {
  ++uid_counter_;
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(uid_counter_));
  return buffer;
}

std::string FakeKubeClient::NewTokenLocked() {
  ++token_counter_;
  // Unique and recognisable; a real token is a JWT, which the broker must not parse anyway.
  return absl::StrCat("fake-token.", token_counter_, ".",
                      absl::ToUnixNanos(clock_.Now()) % 1000003);
}

std::string FakeKubeClient::NextResourceVersionLocked() {
  return std::to_string(++resource_version_);
}

std::optional<FakeKubeClient::Injection> FakeKubeClient::TakeInjectionLocked(
    Verb verb, std::optional<Resource> resource, const std::string& description) {
  call_kinds_.emplace_back(verb, resource);
  calls_.push_back(absl::StrCat(VerbName(verb), " ", description));
  if (cancelled_) {
    return Injection{verb, resource, 1, absl::CancelledError("the Kubernetes client was cancelled"),
                     false};
  }
  for (auto it = injections_.begin(); it != injections_.end(); ++it) {
    if (it->verb != verb) continue;
    if (it->resource.has_value() && it->resource != resource) continue;
    Injection taken = *it;
    if (--it->remaining <= 0) injections_.erase(it);
    return taken;
  }
  return std::nullopt;
}

void FakeKubeClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

void FakeKubeClient::FailNext(Verb verb, std::optional<Resource> resource, int count,
                              absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (count > 0) injections_.push_back({verb, resource, count, std::move(status), false});
}

void FakeKubeClient::FailNextAfterApplying(Verb verb, std::optional<Resource> resource, int count,
                                           absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (count > 0) injections_.push_back({verb, resource, count, std::move(status), true});
}

void FakeKubeClient::ClearFailures() {
  absl::MutexLock lock(&mu_);
  injections_.clear();
}

int FakeKubeClient::CallCount(Verb verb, std::optional<Resource> resource) const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const auto& [v, r] : call_kinds_) {
    if (v == verb && (!resource.has_value() || r == resource)) ++count;
  }
  return count;
}

std::vector<std::string> FakeKubeClient::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void FakeKubeClient::SetServerVersion(ServerVersion version) {
  absl::MutexLock lock(&mu_);
  version_ = std::move(version);
}

void FakeKubeClient::SetFillLegacyTokenSecrets(bool fill) {
  absl::MutexLock lock(&mu_);
  fill_legacy_ = fill;
}

void FakeKubeClient::SetMaxTokenExpiration(absl::Duration max) {
  absl::MutexLock lock(&mu_);
  max_token_expiration_ = max;
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Get(Resource resource,
                                                   const std::string& namespace_name,
                                                   const std::string& name, absl::Time) {
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected = TakeInjectionLocked(
      Verb::kGet, resource, absl::StrCat(Describe(resource).kind, " ", namespace_name, "/", name));
  if (!path.ok()) return path.status();
  if (injected.has_value()) return injected->status;
  auto it = objects_.find(Key{resource, namespace_name, name});
  if (it == objects_.end()) {
    return ApiError(Verb::kGet, *path, 404, "NotFound",
                    absl::StrCat(QualifiedPlural(resource), " \"", name, "\" not found"));
  }
  return it->second;
}

absl::StatusOr<std::vector<nlohmann::json>> FakeKubeClient::List(Resource resource,
                                                                 const std::string& namespace_name,
                                                                 const std::string& label_selector,
                                                                 absl::Time) {
  absl::StatusOr<std::string> path = CollectionPath(resource, namespace_name);
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected = TakeInjectionLocked(
      Verb::kList, resource,
      absl::StrCat(Describe(resource).kind, " ", namespace_name, "/?", label_selector));
  if (!path.ok()) return path.status();
  if (injected.has_value()) return injected->status;
  std::vector<nlohmann::json> items;
  for (const auto& [key, object] : objects_) {
    if (std::get<0>(key) != resource) continue;
    if (!namespace_name.empty() && std::get<1>(key) != namespace_name) continue;
    const nlohmann::json& labels = object["metadata"].contains("labels")
                                       ? object["metadata"]["labels"]
                                       : nlohmann::json::object();
    absl::StatusOr<bool> match = MatchesLabelSelector(label_selector, labels);
    if (!match.ok()) {
      return ApiError(Verb::kList, *path, 400, "BadRequest",
                      absl::StrCat("unable to parse requirement: ", match.status().message()));
    }
    if (*match) items.push_back(object);
  }
  return items;
}

absl::StatusOr<nlohmann::json> FakeKubeClient::CreateLocked(Resource resource,
                                                            const nlohmann::json& object,
                                                            bool check_namespace) {
  const ResourceInfo& info = Describe(resource);
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(info.kind, ": the object needs a metadata object with a name"));
  }
  const std::string name = MetaString(object, "name");
  const std::string namespace_name = info.namespaced ? MetaString(object, "namespace") : "";
  absl::StatusOr<std::string> collection = CollectionPath(resource, namespace_name);
  if (!collection.ok()) return collection.status();
  if (absl::StatusOr<std::string> check = ObjectPath(resource, namespace_name, name); !check.ok()) {
    return check.status();
  }
  if (absl::Status valid = ValidateName(resource, name); !valid.ok()) {
    return ApiError(
        Verb::kCreate, *collection, 422, "Invalid",
        absl::StrCat(info.kind, " \"", name, "\" is invalid: metadata.name: ", valid.message()));
  }
  if (check_namespace && info.namespaced &&
      objects_.find(Key{Resource::kNamespace, "", namespace_name}) == objects_.end()) {
    return ApiError(Verb::kCreate, *collection, 404, "NotFound",
                    absl::StrCat("namespaces \"", namespace_name, "\" not found"));
  }
  Key key{resource, namespace_name, name};
  if (objects_.count(key) > 0) {
    return ApiError(Verb::kCreate, *collection, 409, "AlreadyExists",
                    absl::StrCat(QualifiedPlural(resource), " \"", name, "\" already exists"));
  }
  nlohmann::json stored = object;
  stored["apiVersion"] = ApiVersion(resource);
  stored["kind"] = std::string(info.kind);
  nlohmann::json& metadata = stored["metadata"];
  metadata["uid"] = NewUidLocked();
  metadata["resourceVersion"] = NextResourceVersionLocked();
  metadata["creationTimestamp"] = FormatKubeTime(clock_.Now());
  if (resource == Resource::kSecret && stored.value("type", "") == kLegacyTokenType) {
    FillLegacySecretLocked(stored);
  }
  if (resource == Resource::kNamespace) {
    stored["status"] = {{"phase", "Active"}};
  }
  objects_[key] = stored;
  return stored;
}

void FakeKubeClient::FillLegacySecretLocked(nlohmann::json& secret) {
  if (!fill_legacy_) return;
  const nlohmann::json& metadata = secret["metadata"];
  if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) return;
  std::string sa_name = metadata["annotations"].value(std::string(kSaNameAnnotation), "");
  std::string namespace_name = metadata.value("namespace", "");
  auto sa = objects_.find(Key{Resource::kServiceAccount, namespace_name, sa_name});
  if (sa_name.empty() || sa == objects_.end()) return;
  std::string token = NewTokenLocked();
  Token record;
  record.namespace_name = namespace_name;
  record.service_account = sa_name;
  record.service_account_uid = MetaString(sa->second, "uid");
  record.secret_name = metadata.value("name", "");
  record.secret_uid = metadata.value("uid", "");
  tokens_[token] = record;
  secret["metadata"]["annotations"][std::string(kSaUidAnnotation)] = record.service_account_uid;
  secret["data"]["token"] = absl::Base64Escape(token);
  secret["data"]["namespace"] = absl::Base64Escape(namespace_name);
  secret["data"]["ca.crt"] = absl::Base64Escape("-----BEGIN CERTIFICATE-----\nfake\n");
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Create(Resource resource,
                                                      const nlohmann::json& object, absl::Time) {
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected = TakeInjectionLocked(
      Verb::kCreate, resource,
      absl::StrCat(Describe(resource).kind, " ", MetaString(object, "namespace"), "/",
                   MetaString(object, "name")));
  if (injected.has_value() && !injected->after_applying) return injected->status;
  absl::StatusOr<nlohmann::json> created = CreateLocked(resource, object, true);
  if (injected.has_value()) return injected->status;
  return created;
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Seed(Resource resource,
                                                    const nlohmann::json& object) {
  absl::MutexLock lock(&mu_);
  return CreateLocked(resource, object, false);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Update(Resource resource,
                                                      const nlohmann::json& object, absl::Time) {
  const ResourceInfo& info = Describe(resource);
  const std::string name = MetaString(object, "name");
  const std::string namespace_name = info.namespaced ? MetaString(object, "namespace") : "";
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected = TakeInjectionLocked(
      Verb::kUpdate, resource, absl::StrCat(info.kind, " ", namespace_name, "/", name));
  if (!path.ok()) return path.status();
  if (injected.has_value() && !injected->after_applying) return injected->status;
  const std::string resource_version = MetaString(object, "resourceVersion");
  if (resource_version.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(info.kind, " \"", name,
                     "\": update without metadata.resourceVersion refused; read the object first"));
  }
  auto it = objects_.find(Key{resource, namespace_name, name});
  if (it == objects_.end()) {
    return ApiError(Verb::kUpdate, *path, 404, "NotFound",
                    absl::StrCat(QualifiedPlural(resource), " \"", name, "\" not found"));
  }
  if (MetaString(it->second, "resourceVersion") != resource_version) {
    return ApiError(
        Verb::kUpdate, *path, 409, "Conflict",
        absl::StrCat("Operation cannot be fulfilled on ", QualifiedPlural(resource), " \"", name,
                     "\": the object has been modified; please apply your changes to "
                     "the latest version and try again"));
  }
  nlohmann::json stored = object;
  stored["apiVersion"] = ApiVersion(resource);
  stored["kind"] = std::string(info.kind);
  for (const char* kept : {"uid", "creationTimestamp", "namespace"}) {
    if (it->second["metadata"].contains(kept)) {
      stored["metadata"][kept] = it->second["metadata"][kept];
    }
  }
  stored["metadata"]["resourceVersion"] = NextResourceVersionLocked();
  it->second = stored;
  if (injected.has_value()) return injected->status;
  return stored;
}

void FakeKubeClient::OnDeletedLocked(Resource resource, const nlohmann::json& object) {
  const std::string name = MetaString(object, "name");
  const std::string namespace_name = MetaString(object, "namespace");
  const std::string uid = MetaString(object, "uid");
  if (resource == Resource::kSecret) {
    for (auto& [value, token] : tokens_) {
      if (token.namespace_name == namespace_name && token.secret_uid == uid) token.revoked = true;
    }
  } else if (resource == Resource::kServiceAccount) {
    for (auto& [value, token] : tokens_) {
      if (token.namespace_name == namespace_name && token.service_account_uid == uid) {
        token.revoked = true;
      }
    }
    // The token controller deletes the legacy token Secrets of a deleted ServiceAccount.
    std::vector<Key> doomed;
    for (const auto& [key, secret] : objects_) {
      if (std::get<0>(key) != Resource::kSecret || std::get<1>(key) != namespace_name) continue;
      if (secret.value("type", "") != kLegacyTokenType) continue;
      const nlohmann::json& metadata = secret["metadata"];
      if (metadata.contains("annotations") &&
          metadata["annotations"].value(std::string(kSaNameAnnotation), "") == name) {
        doomed.push_back(key);
      }
    }
    for (const Key& key : doomed) {
      nlohmann::json secret = objects_[key];
      objects_.erase(key);
      OnDeletedLocked(Resource::kSecret, secret);
    }
  } else if (resource == Resource::kNamespace) {
    std::vector<std::pair<Key, nlohmann::json>> doomed;
    for (const auto& [key, value] : objects_) {
      if (Describe(std::get<0>(key)).namespaced && std::get<1>(key) == name) {
        doomed.emplace_back(key, value);
      }
    }
    for (const auto& [key, value] : doomed) {
      if (objects_.erase(key) > 0) OnDeletedLocked(std::get<0>(key), value);
    }
  }
}

absl::Status FakeKubeClient::DeleteLocked(Resource resource, const std::string& namespace_name,
                                          const std::string& name,
                                          const DeletePreconditions& preconditions) {
  absl::StatusOr<std::string> path = ObjectPath(resource, namespace_name, name);
  if (!path.ok()) return path.status();
  auto it = objects_.find(Key{resource, namespace_name, name});
  if (it == objects_.end()) {
    return ApiError(Verb::kDelete, *path, 404, "NotFound",
                    absl::StrCat(QualifiedPlural(resource), " \"", name, "\" not found"));
  }
  std::string uid = MetaString(it->second, "uid");
  std::string resource_version = MetaString(it->second, "resourceVersion");
  if (!preconditions.uid.empty() && preconditions.uid != uid) {
    return ApiError(Verb::kDelete, *path, 409, "Conflict",
                    absl::StrCat("Operation cannot be fulfilled on ", QualifiedPlural(resource),
                                 " \"", name, "\": Precondition failed: UID in precondition: ",
                                 preconditions.uid, ", UID in object meta: ", uid));
  }
  if (!preconditions.resource_version.empty() &&
      preconditions.resource_version != resource_version) {
    return ApiError(
        Verb::kDelete, *path, 409, "Conflict",
        absl::StrCat("Operation cannot be fulfilled on ", QualifiedPlural(resource), " \"", name,
                     "\": Precondition failed: ResourceVersion in precondition: ",
                     preconditions.resource_version,
                     ", ResourceVersion in object meta: ", resource_version));
  }
  nlohmann::json removed = std::move(it->second);
  objects_.erase(it);
  OnDeletedLocked(resource, removed);
  return absl::OkStatus();
}

absl::Status FakeKubeClient::Delete(Resource resource, const std::string& namespace_name,
                                    const std::string& name,
                                    const DeletePreconditions& preconditions, absl::Time) {
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected =
      TakeInjectionLocked(Verb::kDelete, resource,
                          absl::StrCat(Describe(resource).kind, " ", namespace_name, "/", name));
  if (injected.has_value() && !injected->after_applying) return injected->status;
  absl::Status status = DeleteLocked(resource, namespace_name, name, preconditions);
  if (injected.has_value()) return injected->status;
  return status;
}

absl::StatusOr<IssuedToken> FakeKubeClient::CreateToken(const std::string& namespace_name,
                                                        const std::string& service_account,
                                                        const TokenRequestSpec& spec, absl::Time) {
  absl::StatusOr<std::string> sa_path =
      ObjectPath(Resource::kServiceAccount, namespace_name, service_account);
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected =
      TakeInjectionLocked(Verb::kCreateToken, Resource::kServiceAccount,
                          absl::StrCat("ServiceAccount ", namespace_name, "/", service_account));
  if (!sa_path.ok()) return sa_path.status();
  if (injected.has_value() && !injected->after_applying) return injected->status;
  const std::string path = *sa_path + "/token";
  auto sa = objects_.find(Key{Resource::kServiceAccount, namespace_name, service_account});
  if (sa == objects_.end()) {
    return ApiError(Verb::kCreateToken, path, 404, "NotFound",
                    absl::StrCat("serviceaccounts \"", service_account, "\" not found"));
  }
  int64_t seconds = absl::ToInt64Seconds(spec.expiration);
  if (seconds < 600) {
    return ApiError(Verb::kCreateToken, path, 422, "Invalid",
                    absl::StrCat("TokenRequest.authentication.k8s.io \"", service_account,
                                 "\" is invalid: spec.expirationSeconds: Invalid value: ", seconds,
                                 ": may not specify a duration less than 10 minutes"));
  }
  if (seconds > (int64_t{1} << 32)) {
    return ApiError(Verb::kCreateToken, path, 422, "Invalid",
                    absl::StrCat("TokenRequest.authentication.k8s.io \"", service_account,
                                 "\" is invalid: spec.expirationSeconds: Invalid value: ", seconds,
                                 ": may not specify a duration larger than 2^32 seconds"));
  }
  Token record;
  record.namespace_name = namespace_name;
  record.service_account = service_account;
  record.service_account_uid = MetaString(sa->second, "uid");
  if (!spec.bound_secret_name.empty()) {
    auto secret = objects_.find(Key{Resource::kSecret, namespace_name, spec.bound_secret_name});
    if (secret == objects_.end()) {
      return ApiError(Verb::kCreateToken, path, 404, "NotFound",
                      absl::StrCat("secrets \"", spec.bound_secret_name, "\" not found"));
    }
    std::string uid = MetaString(secret->second, "uid");
    if (!spec.bound_secret_uid.empty() && spec.bound_secret_uid != uid) {
      return ApiError(
          Verb::kCreateToken, path, 409, "Conflict",
          absl::StrCat("Operation cannot be fulfilled on serviceaccounts \"", service_account,
                       "\": the UID in the bound object reference (", spec.bound_secret_uid,
                       ") does not match the UID in record. The object might have "
                       "been deleted and then recreated"));
    }
    record.secret_name = spec.bound_secret_name;
    record.secret_uid = uid;
  }
  absl::Duration lifetime = std::min(absl::Seconds(seconds), max_token_expiration_);
  record.expiration = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now() + lifetime));
  std::string token = NewTokenLocked();
  tokens_[token] = record;
  if (injected.has_value()) return injected->status;
  IssuedToken issued;
  issued.token = SecretString(token);
  issued.expiration = record.expiration;
  issued.audiences = spec.audiences.empty()
                         ? std::vector<std::string>{std::string(kDefaultAudience)}
                         : spec.audiences;
  return issued;
}

absl::StatusOr<ServerVersion> FakeKubeClient::GetServerVersion(absl::Time) {
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected =
      TakeInjectionLocked(Verb::kServerVersion, std::nullopt, "/version");
  if (injected.has_value()) return injected->status;
  return version_;
}

std::optional<nlohmann::json> FakeKubeClient::Peek(Resource resource,
                                                   const std::string& namespace_name,
                                                   const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(Key{resource, namespace_name, name});
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

size_t FakeKubeClient::ObjectCount(Resource resource) const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (const auto& [key, object] : objects_) {
    if (std::get<0>(key) == resource) ++count;
  }
  return count;
}

absl::StatusOr<TokenReviewResult> FakeKubeClient::ReviewToken(const SecretString& token,
                                                              const std::vector<std::string>&,
                                                              absl::Time) {
  absl::MutexLock lock(&mu_);
  std::optional<Injection> injected =
      TakeInjectionLocked(Verb::kReviewToken, std::nullopt, "TokenReview");
  // A review changes nothing, so a failure before or after applying looks the same.
  if (injected.has_value()) return injected->status;
  TokenReviewResult result;
  auto it = tokens_.find(token.Reveal());
  if (it == tokens_.end()) {
    result.error = "invalid bearer token";
  } else if (it->second.revoked) {
    result.error = "invalid bearer token, the bound object has been deleted";
  } else if (clock_.Now() >= it->second.expiration) {
    result.error = "invalid bearer token, token has expired";
  } else {
    result.authenticated = true;
    result.username = absl::StrCat("system:serviceaccount:", it->second.namespace_name, ":",
                                   it->second.service_account);
  }
  return result;
}

FakeKubeClient::TokenState FakeKubeClient::CheckToken(const SecretString& token) const {
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token.Reveal());
  if (it == tokens_.end()) return TokenState::kUnknown;
  if (it->second.revoked) return TokenState::kRevoked;
  if (clock_.Now() >= it->second.expiration) return TokenState::kExpired;
  return TokenState::kValid;
}

int FakeKubeClient::ValidTokenCount() const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  absl::Time now = clock_.Now();
  for (const auto& [value, token] : tokens_) {
    if (!token.revoked && now < token.expiration) ++count;
  }
  return count;
}

}  // namespace kcred::kube
