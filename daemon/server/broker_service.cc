#include "daemon/server/broker_service.h"

#include <memory>
#include <optional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/account/account_ref.h"
#include "common/escape.h"
#include "common/logging.h"
#include "common/uuid.h"
#include "daemon/broker/validation.h"
#include "daemon/server/watch_stream.h"

namespace kcred::server {
namespace {

absl::Status NoClusters() {
  return absl::UnavailableError(
      "kcredd has no clusters configured; add one to its configuration and reload it (systemctl "
      "reload kcredd, or SIGHUP)");
}

}  // namespace

BrokerService::BrokerService(ServiceDeps deps, broker::Broker* broker,
                             broker::AccountListener* listener)
    : deps_(std::move(deps)), broker_(broker), listener_(listener) {}

void BrokerService::Attach(broker::Broker* broker, broker::AccountListener* listener) {
  listener_.store(listener);
  broker_.store(broker);
}

template <typename T, typename Call>
grpc::Status BrokerService::Serve(grpc::ServerContext* context, const char* method, Action action,
                                  const v1::AccountRef* ref, T* response, Call call) {
  CallGate gate(deps_, context, method, action);
  absl::Status admitted = gate.Admit(ref);
  if (!admitted.ok()) return ToGrpcStatus(gate.Finish(admitted));
  broker::Broker* broker = broker_.load();
  if (broker == nullptr && action != Action::kSelf) return ToGrpcStatus(gate.Finish(NoClusters()));
  absl::StatusOr<T> result = call(broker, gate);
  absl::Status outcome = gate.Finish(result.status());
  if (!outcome.ok()) return ToGrpcStatus(outcome);
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status BrokerService::ProvisionAccount(grpc::ServerContext* context,
                                             const v1::ProvisionAccountRequest* request,
                                             v1::ProvisionAccountResponse* response) {
  grpc::Status status = Serve(context, "ProvisionAccount", Action::kProvision, &request->ref(),
                              response, [&](broker::Broker* b, CallGate& gate) {
                                gate.entry().details = SpecSummary(*request);
                                return b->Provision(*request);
                              });
  if (broker::AccountListener* listener = listener_.load();
      status.ok() && listener != nullptr && !request->validate_only()) {
    listener->AccountChanged(response->account());
  }
  return status;
}

grpc::Status BrokerService::GetAccount(grpc::ServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) {
  return Serve(context, "GetAccount", Action::kGet, &request->ref(), response,
               [&](broker::Broker* b, CallGate&) { return b->GetAccount(request->ref()); });
}

grpc::Status BrokerService::ListAccounts(grpc::ServerContext* context,
                                         const v1::ListAccountsRequest* request,
                                         v1::ListAccountsResponse* response) {
  CallGate gate(deps_, context, "ListAccounts", Action::kList);
  absl::Status admitted = gate.Admit(nullptr, request->selector());
  if (!admitted.ok()) return ToGrpcStatus(gate.Finish(admitted));
  broker::Broker* broker = broker_.load();
  if (broker == nullptr) return ToGrpcStatus(gate.Finish(NoClusters()));
  absl::StatusOr<v1::ListAccountsResponse> result = broker->ListAccounts(
      *request,
      [&gate](const std::string& cluster, const std::string& ns, const std::string& name) {
        return gate.policy().Decide(gate.identity(), Action::kList, cluster, ns, name).allowed;
      });
  if (result.ok()) gate.entry().details = {{"returned", result->accounts_size()}};
  absl::Status outcome = gate.Finish(result.status());
  if (!outcome.ok()) return ToGrpcStatus(outcome);
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status BrokerService::DeleteAccount(grpc::ServerContext* context,
                                          const v1::DeleteAccountRequest* request,
                                          v1::DeleteAccountResponse* response) {
  grpc::Status status =
      Serve(context, "DeleteAccount", Action::kDelete, &request->ref(), response,
            [&](broker::Broker* b, CallGate&) { return b->DeleteAccount(*request); });
  if (broker::AccountListener* listener = listener_.load(); status.ok() && listener != nullptr) {
    listener->AccountDeleted(request->ref());
  }
  return status;
}

grpc::Status BrokerService::RotateToken(grpc::ServerContext* context,
                                        const v1::RotateTokenRequest* request,
                                        v1::RotateTokenResponse* response) {
  grpc::Status status = Serve(context, "RotateToken", Action::kRotate, &request->ref(), response,
                              [&](broker::Broker* b, CallGate& gate) {
                                nlohmann::json details = nlohmann::json::object();
                                if (!request->reason().empty())
                                  details["reason"] = request->reason();
                                if (request->has_grace()) {
                                  details["grace"] =
                                      FormatDurationArg(FromProtoDuration(request->grace()));
                                }
                                gate.entry().details = std::move(details);
                                return b->RotateToken(*request);
                              });
  if (broker::AccountListener* listener = listener_.load(); status.ok() && listener != nullptr) {
    listener->AccountChanged(response->account());
  }
  return status;
}

grpc::Status BrokerService::GetKubeconfig(grpc::ServerContext* context,
                                          const v1::GetKubeconfigRequest* request,
                                          v1::GetKubeconfigResponse* response) {
  return Serve(context, "GetKubeconfig", Action::kGetKubeconfig, &request->ref(), response,
               [&](broker::Broker* b, CallGate& gate) {
                 absl::StatusOr<v1::GetKubeconfigResponse> result =
                     b->GetKubeconfig(request->ref());
                 if (result.ok()) {
                   gate.entry().token_fingerprint = result->token_fingerprint();
                   gate.entry().generation = result->generation();
                 }
                 return result;
               });
}

grpc::Status BrokerService::GetToken(grpc::ServerContext* context,
                                     const v1::GetTokenRequest* request,
                                     v1::GetTokenResponse* response) {
  return Serve(context, "GetToken", Action::kGetToken, &request->ref(), response,
               [&](broker::Broker* b, CallGate& gate) {
                 absl::StatusOr<v1::GetTokenResponse> result = b->GetToken(request->ref());
                 if (result.ok()) {
                   gate.entry().token_fingerprint = result->token_fingerprint();
                   gate.entry().generation = result->generation();
                 }
                 return result;
               });
}

grpc::ServerWriteReactor<v1::AccountEvent>* BrokerService::WatchAccounts(
    grpc::CallbackServerContext* context, const v1::WatchAccountsRequest* request) {
  return StartWatchStream(deps_, broker_.load(), context, request);
}

grpc::Status BrokerService::ListClusters(grpc::ServerContext* context,
                                         const v1::ListClustersRequest* /*request*/,
                                         v1::ListClustersResponse* response) {
  return Serve(context, "ListClusters", Action::kListClusters, nullptr, response,
               [&](broker::Broker* b, CallGate& gate) -> absl::StatusOr<v1::ListClustersResponse> {
                 absl::StatusOr<v1::ListClustersResponse> all = b->ListClusters();
                 if (!all.ok()) return all;
                 v1::ListClustersResponse visible;
                 for (v1::Cluster& cluster : *all->mutable_clusters()) {
                   if (gate.policy()
                           .DecideAny(gate.identity(), Action::kListClusters, cluster.name())
                           .allowed) {
                     *visible.add_clusters() = std::move(cluster);
                   }
                 }
                 return visible;
               });
}

grpc::Status BrokerService::Doctor(grpc::ServerContext* context, const v1::DoctorRequest* request,
                                   v1::DoctorResponse* response) {
  CallGate gate(deps_, context, "Doctor", Action::kDoctor);
  v1::AccountSelector selector;
  selector.set_cluster(request->cluster());
  selector.set_namespace_(request->namespace_());
  selector.set_name(request->name());
  absl::Status admitted = gate.Admit(nullptr, selector);
  if (!admitted.ok()) return ToGrpcStatus(gate.Finish(admitted));
  broker::Broker* broker = broker_.load();
  if (broker == nullptr) return ToGrpcStatus(gate.Finish(NoClusters()));
  const authz::Policy& policy = gate.policy();
  const authz::Identity& identity = gate.identity();
  broker::DoctorAccess access;
  access.may_check = [&](const broker::AccountKey& key) {
    const auto& [cluster, ns, name] = key;
    return policy.Decide(identity, Action::kDoctor, cluster, ns, name).allowed;
  };
  access.may_repair = [&](broker::Repair repair, const broker::AccountKey& key) {
    const auto& [cluster, ns, name] = key;
    const Action action = repair == broker::Repair::kReconcile ? Action::kProvision
                          : repair == broker::Repair::kRotate  ? Action::kRotate
                                                               : Action::kDelete;
    return policy.Decide(identity, action, cluster, ns, name).allowed;
  };
  absl::StatusOr<v1::DoctorResponse> result = broker->Doctor(*request, access);
  nlohmann::json details = {{"fix", request->fix()}};
  if (result.ok()) {
    // What the call found and, with fix, what it changed: one line per repair.
    nlohmann::json repaired = nlohmann::json::array();
    int open = 0;
    for (const v1::DoctorFinding& finding : result->findings()) {
      if (!finding.repaired()) {
        ++open;
        continue;
      }
      std::string account = finding.has_account() ? AccountText(finding.account()) : "-";
      repaired.push_back(absl::StrCat(v1::DriftKind_Name(finding.kind()), " ", account, " ",
                                      finding.object().kind(), " ", finding.object().namespace_(),
                                      finding.object().namespace_().empty() ? "" : "/",
                                      finding.object().name()));
    }
    details["findings"] = result->findings_size();
    details["unrepaired"] = open;
    if (request->fix()) details["repaired"] = std::move(repaired);
  }
  gate.entry().details = std::move(details);
  absl::Status outcome = gate.Finish(result.status());
  if (!outcome.ok()) return ToGrpcStatus(outcome);
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status BrokerService::GetServerInfo(grpc::ServerContext* context,
                                          const v1::GetServerInfoRequest* /*request*/,
                                          v1::GetServerInfoResponse* response) {
  return Serve(context, "GetServerInfo", Action::kSelf, nullptr, response,
               [&](broker::Broker*, CallGate& gate) -> absl::StatusOr<v1::GetServerInfoResponse> {
                 v1::GetServerInfoResponse info;
                 info.set_version(deps_.version);
                 info.set_caller_identity(gate.identity().Display());
                 *info.mutable_start_time() = broker::ToProto(deps_.start_time);
                 return info;
               });
}

grpc::Status BrokerService::WhoAmI(grpc::ServerContext* context,
                                   const v1::WhoAmIRequest* /*request*/,
                                   v1::WhoAmIResponse* response) {
  return Serve(context, "WhoAmI", Action::kSelf, nullptr, response,
               [&](broker::Broker*, CallGate& gate) -> absl::StatusOr<v1::WhoAmIResponse> {
                 const authz::Identity& identity = gate.identity();
                 v1::WhoAmIResponse out;
                 v1::CallerIdentity* id = out.mutable_identity();
                 id->set_display(identity.Display());
                 for (const std::string& subject : identity.subjects()) id->add_subjects(subject);
                 id->set_transport(identity.TransportName());
                 id->set_peer(identity.Peer());
                 if (identity.certificate()) {
                   id->set_certificate_sha256(identity.certificate()->sha256);
                 }
                 for (const config::AuthorizationRule& rule : gate.policy().RulesNaming(identity)) {
                   v1::AuthorizationRule* r = out.add_rules();
                   r->set_source(rule.source);
                   for (const std::string& s : rule.subjects) r->add_subjects(s);
                   for (const std::string& a : rule.actions) r->add_actions(a);
                   for (const std::string& a : rule.accounts) r->add_accounts(a);
                 }
                 return out;
               });
}

grpc::Status BrokerService::CheckAccess(grpc::ServerContext* context,
                                        const v1::CheckAccessRequest* request,
                                        v1::CheckAccessResponse* response) {
  return Serve(
      context, "CheckAccess", Action::kSelf, nullptr, response,
      [&](broker::Broker*, CallGate& gate) -> absl::StatusOr<v1::CheckAccessResponse> {
        absl::StatusOr<Action> action = ParseAction(request->action());
        if (!action.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("action: ", action.status().message()));
        }
        const v1::AccountRef& ref = request->account();
        const bool cluster_only = *action == Action::kListClusters;
        if (!cluster_only &&
            (ref.cluster().empty() || ref.namespace_().empty() || ref.name().empty())) {
          return absl::InvalidArgumentError(
              absl::StrCat("account: ", request->action(),
                           " applies to one account; give CLUSTER/NAMESPACE/NAME"));
        }
        const std::string asked = AccountText(ref);
        gate.entry().details = {{"asked_action", request->action()}, {"asked_account", asked}};
        const authz::Decision decision =
            cluster_only ? gate.policy().DecideAny(gate.identity(), *action, ref.cluster())
                         : gate.policy().Decide(gate.identity(), *action, ref);
        v1::CheckAccessResponse out;
        out.set_allowed(decision.allowed);
        const std::string target =
            cluster_only ? (ref.cluster().empty() ? std::string("any cluster")
                                                  : absl::StrCat("cluster ", ref.cluster()))
                         : absl::StrCat("account ", asked);
        out.set_reason(decision.allowed
                           ? absl::StrCat("allowed by ", decision.rule)
                           : absl::StrCat("no rule of kcredd's authorization policy grants ",
                                          request->action(), " on ", EscapeControl(target), " to ",
                                          gate.identity().Display(), " (",
                                          gate.policy().description(), ")"));
        return out;
      });
}

}  // namespace kcred::server
