// The broker's reads: GetAccount, ListAccounts, AllAccounts, GetKubeconfig, GetToken (answered from
// memory: no Kubernetes call, no store read) and ListClusters (probes, cluster_probes.h).

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/account/account_ref.h"
#include "common/status.h"
#include "daemon/broker/account_selector.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

namespace {

constexpr char kPageTokenMagic[] = "kcred.v1.accounts.page";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

// The account as readers see it at `now`: Ready false when its token has expired or its cluster
// is not configured, and the retry after a failed rotation as its next rotation.
v1::Account Observed(const AccountState& state, absl::Time now)
    ABSL_SHARED_LOCKS_REQUIRED(state.mu) {
  v1::Account account = ObservedAccount(state.record.account(), now);
  if (state.serving.cluster_missing) {
    // Not served until its cluster is configured again, whatever the record says.
    ObserveNotReady(*account.mutable_status(), "ClusterNotConfigured",
                    state.serving.unserved_reason, ToProto(state.serving.cluster_missing_since));
  }
  // After a failed rotation the planned time has passed; the retry is what happens next.
  v1::AccountStatus& status = *account.mutable_status();
  if (state.retry_time > FromProto(status.next_rotation_time())) {
    *status.mutable_next_rotation_time() = ToProto(state.retry_time);
  }
  return account;
}

std::string EncodePageToken(const AccountKey& last) {
  const auto& [cluster, ns, name] = last;
  return absl::WebSafeBase64Escape(
      absl::StrJoin({std::string(kPageTokenMagic), cluster, ns, name}, "\n"));
}

// The key a page token continues after; INVALID_ARGUMENT when this server did not issue it.
absl::StatusOr<AccountKey> DecodePageToken(const std::string& token) {
  std::string decoded;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &decoded)) parts = absl::StrSplit(decoded, '\n');
  if (parts.size() != 4 || parts[0] != kPageTokenMagic) {
    return absl::InvalidArgumentError(
        "page_token: not a token this server issued; pass the next_page_token of the previous "
        "response unchanged, or leave it empty for the first page");
  }
  return AccountKey{parts[1], parts[2], parts[3]};
}

}  // namespace

void Broker::SetRotationPlanner(RotationPlanner planner) {
  absl::MutexLock lock(&planner_mu_);
  planner_ = std::move(planner);
}

void Broker::NoteRotationRetry(const v1::AccountRef& ref, absl::Time at) {
  StatePtr state = accounts_.Find(KeyOf(ref));
  if (state == nullptr) return;
  absl::MutexLock lock(&state->mu);
  state->retry_time = at;
}

absl::StatusOr<v1::Account> Broker::GetAccount(const v1::AccountRef& ref) {
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  StatePtr state = accounts_.Find(KeyOf(ref));
  if (state != nullptr) {
    absl::MutexLock lock(&state->mu);
    if (state->exists) return Observed(*state, clock_.Now());
  }
  // Loaded accounts of a cluster no longer configured are found above; otherwise say which
  // clusters there are.
  KCRED_RETURN_IF_ERROR(clusters_.Find(ref.cluster()).status());
  return absl::NotFoundError(absl::StrCat("account ", RefString(ref), " not found"));
}

absl::StatusOr<std::vector<v1::Account>> Broker::AllAccounts() {
  std::vector<v1::Account> all;
  v1::ListAccountsRequest request;
  request.set_page_size(1000);
  for (;;) {
    KCRED_ASSIGN_OR_RETURN(v1::ListAccountsResponse page, ListAccounts(request));
    for (v1::Account& account : *page.mutable_accounts()) all.push_back(std::move(account));
    if (page.next_page_token().empty()) return all;
    request.set_page_token(page.next_page_token());
  }
}

absl::StatusOr<v1::ListAccountsResponse> Broker::ListAccounts(
    const v1::ListAccountsRequest& request, const AccountFilter& visible) {
  const v1::AccountSelector& selector = request.selector();
  if (!selector.cluster().empty() && account_count(selector.cluster()) == 0) {
    KCRED_RETURN_IF_ERROR(clusters_.Find(selector.cluster()).status());
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative; 0 means 100");
  }
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::optional<AccountKey> after;
  if (!request.page_token().empty()) {
    KCRED_ASSIGN_OR_RETURN(after, DecodePageToken(request.page_token()));
  }
  // Parsed (and validated) once, even when nothing is listed.
  KCRED_ASSIGN_OR_RETURN(const AccountMatcher matcher, AccountMatcher::Create(selector));
  const std::vector<StatePtr> candidates = accounts_.Select(after, [&](const AccountKey& key) {
    const auto& [cluster, ns, name] = key;
    if (!selector.cluster().empty() && cluster != selector.cluster()) return false;
    if (!selector.namespace_().empty() && ns != selector.namespace_()) return false;
    if (!selector.name().empty() && name != selector.name()) return false;
    return !visible || visible(cluster, ns, name);
  });
  v1::ListAccountsResponse response;
  for (const StatePtr& state : candidates) {
    v1::Account account;
    {
      absl::MutexLock lock(&state->mu);
      if (!state->exists) continue;
      account = Observed(*state, clock_.Now());
    }
    if (!matcher.Matches(account)) continue;
    if (response.accounts_size() == page_size) {
      response.set_next_page_token(EncodePageToken(KeyOf(response.accounts(page_size - 1).ref())));
      break;
    }
    *response.add_accounts() = std::move(account);
  }
  return response;
}

absl::StatusOr<Served> Broker::CurrentCredentials(const v1::AccountRef& ref,
                                                  v1::AccountSpec* spec) const {
  KCRED_RETURN_IF_ERROR(ValidateRefNames(ref));
  const std::string account = RefString(ref);
  StatePtr state = accounts_.Find(KeyOf(ref));
  auto not_found = [&]() -> absl::Status {
    // Loaded accounts of a cluster no longer configured are UNAVAILABLE (below), not unknown.
    KCRED_RETURN_IF_ERROR(clusters_.Find(ref.cluster()).status());
    return absl::NotFoundError(absl::StrCat("account ", account, " not found"));
  };
  if (state == nullptr) return not_found();
  absl::MutexLock lock(&state->mu);
  if (!state->exists) return not_found();
  if (spec != nullptr) *spec = state->record.account().spec();
  return state->serving.Current(account, state->record.account().status().last_error(),
                                clock_.Now());
}

absl::StatusOr<v1::GetKubeconfigResponse> Broker::GetKubeconfig(const v1::AccountRef& ref) {
  KCRED_ASSIGN_OR_RETURN(const Served served, CurrentCredentials(ref));
  v1::GetKubeconfigResponse response;
  response.set_kubeconfig(served.kubeconfig.Reveal());
  response.set_context_name(served.entry.context_name);
  response.set_cluster_name(served.entry.cluster_name);
  response.set_user_name(served.entry.user_name);
  response.set_server(served.entry.server);
  response.set_certificate_authority(served.entry.ca_pem);
  response.set_namespace_(ref.namespace_());
  if (served.expire_time != absl::InfiniteFuture()) {
    *response.mutable_expire_time() = ToProto(served.expire_time);
  }
  response.set_generation(served.generation);
  response.set_token_fingerprint(served.fingerprint);
  return response;
}

absl::StatusOr<v1::GetTokenResponse> Broker::GetToken(const v1::AccountRef& ref) {
  v1::AccountSpec spec;
  KCRED_ASSIGN_OR_RETURN(const Served served, CurrentCredentials(ref, &spec));
  // Served means the cluster is configured; the grace tells the exec plugin how long the token
  // outlives its rotation, so that it can ask again before the token is revoked.
  KCRED_ASSIGN_OR_RETURN(const ClusterPtr cluster, clusters_.Find(ref.cluster()));
  v1::GetTokenResponse response;
  response.set_token(served.token.Reveal());
  if (served.expire_time != absl::InfiniteFuture()) {
    *response.mutable_expire_time() = ToProto(served.expire_time);
  }
  response.set_generation(served.generation);
  response.set_token_fingerprint(served.fingerprint);
  absl::Time next_rotation = served.next_rotation_time;
  {
    absl::MutexLock lock(&planner_mu_);
    if (planner_) {
      if (std::optional<absl::Time> planned = planner_(ref)) next_rotation = *planned;
    }
  }
  *response.mutable_next_rotation_time() = ToProto(next_rotation);
  *response.mutable_grace() =
      ToProtoDuration(ResolvePolicy(spec, cluster->config, defaults_).grace);
  return response;
}

absl::StatusOr<v1::ListClustersResponse> Broker::ListClusters() {
  std::map<std::string, int> counts = accounts_.CountByCluster();
  // The handles are held until the probes are done, even if the clusters are replaced meanwhile.
  const std::vector<ClusterPtr> clusters = clusters_.All();
  v1::ListClustersResponse response;
  for (const ClusterPtr& cluster : clusters) {
    v1::Cluster* out = response.add_clusters();
    out->set_name(cluster->config.name);
    out->set_server(cluster->config.server);
    out->set_account_count(counts[cluster->config.name]);
  }
  // Probed at once, each cluster at most once at a time however many callers ask (ClusterProbes).
  std::vector<ClusterProbes::Result> probed = probes_.Probe(clusters);
  for (size_t i = 0; i < clusters.size(); ++i) {
    v1::Cluster* out = response.mutable_clusters(static_cast<int>(i));
    *out->mutable_last_check_time() = ToProto(probed[i].checked);
    if (probed[i].version.ok()) {
      out->set_reachable(true);
      out->set_server_version(probed[i].version->git_version);
    } else {
      out->set_reachable(false);
      out->set_error(std::string(probed[i].version.status().message()));
    }
  }
  return response;
}

}  // namespace kcred::broker
