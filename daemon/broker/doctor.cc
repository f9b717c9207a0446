// Broker::Doctor: the drift check and its repairs (doctor.h says what is checked and how each
// finding is repaired).

#include "daemon/broker/doctor.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/broker/account_table.h"
#include "daemon/broker/broker.h"
#include "daemon/broker/kube_objects.h"
#include "daemon/broker/object_names.h"
#include "daemon/broker/reconcile.h"
#include "daemon/broker/revocation.h"
#include "daemon/broker/validation.h"

namespace kcred::broker {

using internal::v1::AccountRecord;
using internal::v1::GenerationRecord;
using kube::Resource;
using nlohmann::json;

const char* RepairAction(Repair repair) {
  switch (repair) {
    case Repair::kReconcile:
      return "provision";
    case Repair::kRotate:
      return "rotate";
    case Repair::kDelete:
      return "delete";
  }
  return "?";
}

namespace {

// The kinds kcred labels per account, in the order the check lists them.
constexpr Resource kLabelledKinds[] = {Resource::kServiceAccount, Resource::kSecret,
                                       Resource::kRole,           Resource::kRoleBinding,
                                       Resource::kClusterRole,    Resource::kClusterRoleBinding};

v1::AccountRef RefOf(const AccountKey& key) {
  v1::AccountRef ref;
  ref.set_cluster(std::get<0>(key));
  ref.set_namespace_(std::get<1>(key));
  ref.set_name(std::get<2>(key));
  return ref;
}

bool MayCheck(const DoctorAccess& access, const AccountKey& key) {
  return !access.may_check || access.may_check(key);
}

// Empty when the caller may make `repair` on `key`, else why not.
std::string RepairRefused(const DoctorAccess& access, Repair repair, const AccountKey& key) {
  if (!access.may_repair || access.may_repair(repair, key)) return "";
  return absl::StrCat("not repaired: it needs the action ", RepairAction(repair), " on account ",
                      RefString(key), ", which kcredd's authorization policy does not grant you");
}

v1::DoctorFinding& AddFinding(v1::DoctorResponse& response, const std::string& cluster,
                              const AccountKey* key, v1::DriftKind kind, std::string detail) {
  v1::DoctorFinding& finding = *response.add_findings();
  if (key != nullptr) *finding.mutable_account() = RefOf(*key);
  finding.set_cluster(cluster);
  finding.set_kind(kind);
  finding.set_detail(std::move(detail));
  return finding;
}

// Records the outcome of a repair on `finding`.
void NoteRepair(v1::DoctorFinding& finding, const absl::Status& repaired) {
  if (repaired.ok()) {
    finding.set_repaired(true);
    finding.clear_repair_error();
  } else {
    finding.set_repair_error(std::string(repaired.message()));
  }
}

// The selector of the cluster's kcred-labelled objects, narrowed to a namespace and an account
// name when the request names them.
std::string OrphanSelector(const std::string& cluster, const v1::DoctorRequest& request) {
  std::map<std::string, std::string> labels =
      AccountLabels(cluster, request.namespace_(), request.name());
  if (request.namespace_().empty()) labels.erase(kNamespaceLabel);
  if (request.name().empty()) labels.erase(kAccountLabel);
  return absl::StrJoin(labels, ",", absl::PairFormatter("="));
}

// IsOrphanObject with the grace of the account's spec (the defaults' when it has no record).
bool OrphanNow(Resource resource, const json& object, const AccountKey& key,
               const std::optional<AccountRecord>& record, const config::ClusterConfig& cluster,
               const config::TokenDefaults& defaults, absl::Time now) {
  const absl::Duration grace =
      ResolvePolicy(record.has_value() ? record->account().spec() : v1::AccountSpec(), cluster,
                    defaults)
          .grace;
  // The anchor Secret of the account's next generation is a rotation's that failed or was cut
  // short after creating it; the next attempt takes it over (TokenIssuer reuses it), so it is
  // pending, not drift.
  int64_t generation = 0;
  if (resource == Resource::kSecret && record.has_value() &&
      absl::SimpleAtoi(LabelOf(object, kGenerationLabel), &generation) &&
      generation == record->account().status().generation() + 1) {
    return false;
  }
  return IsOrphanObject(resource, object, key, record.has_value() ? &*record : nullptr, grace, now);
}

}  // namespace

absl::StatusOr<v1::DoctorResponse> Broker::Doctor(const v1::DoctorRequest& request,
                                                  const DoctorAccess& access) {
  std::vector<ClusterPtr> clusters;
  if (!request.cluster().empty()) {
    KCRED_ASSIGN_OR_RETURN(ClusterPtr one, clusters_.Find(request.cluster()));
    clusters.push_back(std::move(one));
  } else {
    clusters = clusters_.All();
  }
  std::sort(clusters.begin(), clusters.end(), [](const ClusterPtr& a, const ClusterPtr& b) {
    return a->config.name < b->config.name;
  });
  v1::DoctorResponse response;
  for (const ClusterPtr& cluster : clusters) {
    KCRED_RETURN_IF_ERROR(DoctorCluster(*cluster, request, access, response));
  }
  size_t open = 0;
  for (const v1::DoctorFinding& finding : response.findings()) open += !finding.repaired();
  Logger("broker")->info("doctor: {} finding(s) on {} cluster(s), {} repaired",
                         response.findings_size(), response.clusters_size(),
                         response.findings_size() - static_cast<int>(open));
  return response;
}

absl::Status Broker::DoctorCluster(const ClusterHandle& cluster, const v1::DoctorRequest& request,
                                   const DoctorAccess& access, v1::DoctorResponse& response) {
  const std::string& cluster_name = cluster.config.name;
  v1::DoctorCluster& report = *response.add_clusters();
  report.set_name(cluster_name);
  auto stopped = [] {
    return absl::CancelledError("kcredd is stopping: the drift check was cut short; run it again");
  };

  // The kcred-labelled objects first: a cluster that cannot be listed is not checked further.
  std::vector<std::pair<Resource, json>> labelled;
  const std::string selector = OrphanSelector(cluster_name, request);
  for (Resource resource : kLabelledKinds) {
    if (stopping_) return stopped();
    const std::string list_ns = kube::Describe(resource).namespaced ? request.namespace_() : "";
    absl::StatusOr<std::vector<json>> listed =
        cluster.client->List(resource, list_ns, selector, clock_.Now() + kKubeCallTimeout);
    if (!listed.ok()) {
      if (stopping_) return stopped();
      report.set_error(absl::StrCat("listing kcred's ", kube::Describe(resource).plural, ": ",
                                    listed.status().message()));
      return absl::OkStatus();
    }
    for (json& object : *listed) labelled.emplace_back(resource, std::move(object));
  }
  report.set_objects_checked(static_cast<int32_t>(labelled.size()));

  // The orphans, by the sweep's ownership rule, judged with the records as they are before any
  // repair of this call (a revocation made below would otherwise make its own Secret look
  // unowned); reported and repaired after the accounts.
  struct Orphan {
    Resource resource;
    const json* object;
    AccountKey key;
    std::string detail;
  };
  std::vector<Orphan> orphans;
  for (const auto& [resource, object] : labelled) {
    const AccountKey key{cluster_name, LabelOf(object, kNamespaceLabel),
                         LabelOf(object, kAccountLabel)};
    if (std::get<1>(key).empty() || std::get<2>(key).empty()) continue;  // not an account's
    if (!MayCheck(access, key)) continue;
    std::optional<AccountRecord> record;
    if (StatePtr state = accounts_.Find(key); state != nullptr) {
      absl::MutexLock lock(&state->mu);
      // Not existing yet, but in the table: an operation is creating the account right now.
      if (!state->exists) continue;
      record = state->record;
    }
    if (!OrphanNow(resource, object, key, record, cluster.config, defaults_, clock_.Now())) {
      continue;
    }
    // An operation on the account may be under way: a rotation creates its anchor Secret before
    // it commits the generation that owns it. Decide again once any such operation has finished,
    // under the account's lock (held for no network call here).
    {
      LockedAccount account(accounts_, key);
      record.reset();
      absl::MutexLock lock(&account.state().mu);
      if (account.state().exists) record = account.state().record;
    }
    if (!OrphanNow(resource, object, key, record, cluster.config, defaults_, clock_.Now())) {
      continue;
    }
    // The list may be older than the record: a revocation since then deleted the object and
    // dropped it from the record. Only an object the cluster still holds (same uid) is an orphan.
    absl::StatusOr<json> current =
        cluster.client->Get(resource, MetaString(object, "namespace"), MetaString(object, "name"),
                            clock_.Now() + kKubeCallTimeout);
    if (absl::IsNotFound(current.status()) ||
        (current.ok() && MetaString(*current, "uid") != MetaString(object, "uid"))) {
      continue;
    }
    orphans.push_back({resource, &object, key,
                       record.has_value() ? absl::StrCat("labelled for account ", RefString(key),
                                                         ", whose record does not own it")
                                          : absl::StrCat("labelled for account ", RefString(key),
                                                         ", which does not exist")});
  }

  // The accounts, each as recorded now (deleting ones are DeleteAccount's to finish).
  for (const auto& [key, state] : accounts_.Snapshot()) {
    const auto& [account_cluster, ns, name] = key;
    if (account_cluster != cluster_name) continue;
    if (!request.namespace_().empty() && ns != request.namespace_()) continue;
    if (!request.name().empty() && name != request.name()) continue;
    if (!MayCheck(access, key)) continue;
    AccountRecord record;
    {
      absl::MutexLock lock(&state->mu);
      if (!state->exists || state->record.deleting()) continue;
      record = state->record;
    }
    if (stopping_) return stopped();
    DoctorAccount(cluster, key, record, request.fix(), access, report, response);
  }

  for (const Orphan& orphan : orphans) {
    if (stopping_) return stopped();
    v1::DoctorFinding& finding =
        AddFinding(response, cluster_name, nullptr, v1::DRIFT_KIND_ORPHAN_OBJECT, orphan.detail);
    *finding.mutable_object() =
        MakeRef(orphan.resource, MetaString(*orphan.object, "namespace"),
                MetaString(*orphan.object, "name"), MetaString(*orphan.object, "uid"));
    if (!request.fix()) continue;
    if (std::string refused = RepairRefused(access, Repair::kDelete, orphan.key);
        !refused.empty()) {
      finding.set_repair_error(refused);
      continue;
    }
    NoteRepair(finding, DeleteOrphan(cluster, orphan.resource, *orphan.object, orphan.key));
  }
  return absl::OkStatus();
}

void Broker::DoctorAccount(const ClusterHandle& cluster, const AccountKey& key,
                           const AccountRecord& record, bool fix, const DoctorAccess& access,
                           v1::DoctorCluster& report, v1::DoctorResponse& response) {
  const std::string& cluster_name = cluster.config.name;
  const std::string& ns = std::get<1>(key);
  const v1::AccountSpec& spec = record.account().spec();
  const TokenPolicy policy = ResolvePolicy(spec, cluster.config, defaults_);
  const absl::Time now = clock_.Now();
  report.set_accounts_checked(report.accounts_checked() + 1);
  auto add = [&](v1::DriftKind kind, std::string detail) -> v1::DoctorFinding& {
    return AddFinding(response, cluster_name, &key, kind, std::move(detail));
  };

  // Objects: what a reconcile of the recorded spec would change.
  std::vector<int> object_findings;  // indexes into response.findings
  Reconcile reconcile(clock_, cluster, key, spec, &record);
  if (absl::Status planned = reconcile.Plan(); !planned.ok()) {
    if (absl::IsNotFound(planned) || absl::IsAlreadyExists(planned) ||
        absl::IsPermissionDenied(planned)) {
      // The namespace or the role of role_ref is gone, or an object is no longer kcred's: the
      // message says what to do; a reconcile cannot do it.
      add(absl::IsAlreadyExists(planned) ? v1::DRIFT_KIND_OBJECT_CHANGED
                                         : v1::DRIFT_KIND_OBJECT_MISSING,
          std::string(planned.message()))
          .set_repair_error(fix ? "not repairable by kcred: see the detail" : "");
    } else {
      add(v1::DRIFT_KIND_CHECK_FAILED,
          absl::StrCat("reading the account's objects: ", planned.message()));
    }
  } else {
    for (const Step& step : reconcile.steps()) {
      report.set_objects_checked(report.objects_checked() + 1);
      v1::DriftKind kind = v1::DRIFT_KIND_UNSPECIFIED;
      std::string detail;
      switch (step.action) {
        case Step::Action::kKeep:
          continue;
        case Step::Action::kCreate:
          kind = v1::DRIFT_KIND_OBJECT_MISSING;
          detail = "does not exist";
          break;
        case Step::Action::kUpdate:
        case Step::Action::kRecreate:
          kind = v1::DRIFT_KIND_OBJECT_CHANGED;
          detail = absl::StrCat("differs from the spec: ", absl::StrJoin(step.differs, ", "));
          break;
        case Step::Action::kAdopt:
          kind = v1::DRIFT_KIND_OBJECT_CHANGED;
          detail = "lost kcred's labels (the spec adopts it)";
          break;
        case Step::Action::kDelete:
          kind = v1::DRIFT_KIND_OBJECT_CHANGED;
          detail = "recorded for the account but no longer in its spec";
          break;
      }
      v1::DoctorFinding& finding = add(kind, std::move(detail));
      *finding.mutable_object() = MakeRef(step.resource, step.ns, step.name, step.uid);
      object_findings.push_back(response.findings_size() - 1);
    }
  }

  // The current token: does the cluster accept it?
  const GenerationRecord* current = CurrentGeneration(record);
  std::optional<int> token_finding;
  int64_t reviewed_generation = 0;
  if (current == nullptr) {
    add(v1::DRIFT_KIND_TOKEN_NOT_ACCEPTED, "the account has no current token");
    token_finding = response.findings_size() - 1;
  } else {
    reviewed_generation = current->generation();
    const v1::ObjectReference secret =
        MakeRef(Resource::kSecret, ns, current->secret_name(), current->secret_uid());
    const std::string which =
        absl::StrCat("generation ", current->generation(), " (", current->token_fingerprint(), ")");
    if (current->has_expire_time() && FromProto(current->expire_time()) <= now) {
      v1::DoctorFinding& finding = add(
          v1::DRIFT_KIND_TOKEN_NOT_ACCEPTED,
          absl::StrCat(which, " expired at ", absl::FormatTime(FromProto(current->expire_time()))));
      *finding.mutable_object() = secret;
      token_finding = response.findings_size() - 1;
    } else {
      absl::StatusOr<SecretString> token = sealer_.Open(
          current->sealed_token(), SealingContext(StoreKey(key), current->generation()));
      absl::StatusOr<kube::TokenReviewResult> review =
          token.ok() ? cluster.client->ReviewToken(*token, policy.audiences,
                                                   clock_.Now() + kKubeCallTimeout)
                     : absl::StatusOr<kube::TokenReviewResult>(token.status());
      if (!token.ok()) {
        v1::DoctorFinding& finding =
            add(v1::DRIFT_KIND_TOKEN_NOT_ACCEPTED,
                absl::StrCat("the stored token of ", which,
                             " cannot be opened: ", token.status().message()));
        *finding.mutable_object() = secret;
        token_finding = response.findings_size() - 1;
      } else if (!review.ok()) {
        add(v1::DRIFT_KIND_CHECK_FAILED,
            absl::StrCat("reviewing the token of ", which, ": ", review.status().message(),
                         absl::IsPermissionDenied(review.status())
                             ? " (kcredd's credential needs create on "
                               "tokenreviews.authentication.k8s.io: systemd/kcredd-rbac.yaml)"
                             : ""));
      } else if (!review->authenticated) {
        v1::DoctorFinding& finding =
            add(v1::DRIFT_KIND_TOKEN_NOT_ACCEPTED,
                absl::StrCat("the cluster does not accept the token of ", which,
                             review->error.empty() ? "" : ": ", review->error));
        *finding.mutable_object() = secret;
        token_finding = response.findings_size() - 1;
      }
    }
  }

  // Previous tokens past their revoke time: is their Secret still there?
  std::vector<int> revoke_findings;
  for (const GenerationRecord& g : record.generations()) {
    if (!g.has_revoke_time() || FromProto(g.revoke_time()) > now) continue;
    if (g.has_expire_time() && FromProto(g.expire_time()) <= now) continue;
    report.set_objects_checked(report.objects_checked() + 1);
    absl::StatusOr<json> secret = cluster.client->Get(Resource::kSecret, ns, g.secret_name(),
                                                      clock_.Now() + kKubeCallTimeout);
    if (!secret.ok() && absl::IsNotFound(secret.status())) continue;
    if (secret.ok() && MetaString(*secret, "uid") != g.secret_uid()) continue;
    const std::string which =
        absl::StrCat("generation ", g.generation(), " (", g.token_fingerprint(), ")");
    if (!secret.ok()) {
      add(v1::DRIFT_KIND_CHECK_FAILED,
          absl::StrCat("reading the Secret of ", which, ": ", secret.status().message()));
      continue;
    }
    v1::DoctorFinding& finding =
        add(v1::DRIFT_KIND_TOKEN_NOT_REVOKED,
            absl::StrCat(which, " was due for revocation at ",
                         absl::FormatTime(FromProto(g.revoke_time())),
                         "; its Secret still exists, so its token still works"));
    *finding.mutable_object() = MakeRef(Resource::kSecret, ns, g.secret_name(), g.secret_uid());
    revoke_findings.push_back(response.findings_size() - 1);
  }

  if (!fix) return;
  auto finding_at = [&](int index) -> v1::DoctorFinding& {
    return *response.mutable_findings(index);
  };
  // Objects: a reconcile to the recorded spec, as its owner would apply it.
  if (!object_findings.empty()) {
    absl::Status repaired;
    if (std::string refused = RepairRefused(access, Repair::kReconcile, key); !refused.empty()) {
      repaired = absl::PermissionDeniedError(refused);
    } else {
      v1::ProvisionAccountRequest provision;
      *provision.mutable_ref() = RefOf(key);
      *provision.mutable_spec() = spec;
      repaired = Provision(provision, record.account().origin()).status();
    }
    for (int index : object_findings) NoteRepair(finding_at(index), repaired);
  }
  if (token_finding.has_value()) {
    absl::Status repaired;
    if (std::string refused = RepairRefused(access, Repair::kRotate, key); !refused.empty()) {
      repaired = absl::PermissionDeniedError(refused);
    } else {
      repaired = RotateDeadToken(cluster, key, reviewed_generation);
    }
    NoteRepair(finding_at(*token_finding), repaired);
  }
  if (!revoke_findings.empty()) {
    absl::Status repaired;
    if (std::string refused = RepairRefused(access, Repair::kRotate, key); !refused.empty()) {
      repaired = absl::PermissionDeniedError(refused);
    } else {
      repaired = RevokeOverdue(cluster, key);
    }
    for (int index : revoke_findings) NoteRepair(finding_at(index), repaired);
  }
}

absl::Status Broker::RotateDeadToken(const ClusterHandle& cluster, const AccountKey& key,
                                     int64_t generation) {
  LockedAccount account(accounts_, key);
  AccountRecord record;
  {
    absl::MutexLock lock(&account.state().mu);
    if (!account.state().exists || account.state().record.deleting()) {
      return absl::FailedPreconditionError(
          absl::StrCat("account ", RefString(key), " is gone or being deleted"));
    }
    record = account.state().record;
  }
  const GenerationRecord* current = CurrentGeneration(record);
  // The reconcile (or another operation) has replaced the token since it was reviewed.
  if (current != nullptr && current->generation() != generation) return absl::OkStatus();
  int64_t previous = 0;
  absl::Time revoke_time;
  absl::Status rotated =
      RotateLocked(cluster, account, record, absl::ZeroDuration(), &previous, &revoke_time);
  if (!rotated.ok()) {
    RecordFailure(account, rotated);
    return rotated;
  }
  Logger("broker")->info("account {}: doctor rotated the token the cluster no longer accepted",
                         RefString(key));
  return absl::OkStatus();
}

absl::Status Broker::RevokeOverdue(const ClusterHandle& cluster, const AccountKey& key) {
  LockedAccount account(accounts_, key);
  return RevokeDueLocked(cluster, account);
}

absl::Status Broker::DeleteOrphan(const ClusterHandle& cluster, Resource resource,
                                  const json& object, const AccountKey& key) {
  const std::string object_ns = MetaString(object, "namespace");
  const std::string object_name = MetaString(object, "name");
  const std::string what = ObjectString(resource, object_ns, object_name);
  // Under the lock of the account its labels name, so that no operation on that account runs
  // meanwhile; the ownership is decided again with the record as it is now.
  LockedAccount account(accounts_, key);
  std::optional<AccountRecord> record;
  {
    absl::MutexLock lock(&account.state().mu);
    if (account.state().exists) record = account.state().record;
  }
  if (!OrphanNow(resource, object, key, record, cluster.config, defaults_, clock_.Now())) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is owned by account ", RefString(key), " again; left in place"));
  }
  absl::Status removed =
      cluster.client->Delete(resource, object_ns, object_name, {MetaString(object, "uid"), ""},
                             clock_.Now() + kKubeCallTimeout);
  if (removed.ok() || absl::IsNotFound(removed)) {
    Logger("broker")->info("doctor: deleted orphan {} (labelled for account {})", what,
                           RefString(key));
    return absl::OkStatus();
  }
  return Wrap(removed, absl::StrCat("deleting ", what));
}

}  // namespace kcred::broker
