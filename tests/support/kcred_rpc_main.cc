// kcred-rpc: one CredentialBroker call per run, for the authorization tests, which run it as other
// uids (setpriv) and with other client certificates. Prints the gRPC code name on the first line
// and the message (or what the call returned) on the second; exits 0 when the call did what the
// action means (the account listed, its snapshot watched, its cluster listed), 1 otherwise.
//
//   kcred-rpc --server unix:/path|host:port [--ca F --cert F --key F] [--raw] ACTION
//   CLUSTER/NS/NAME
//
// --raw sends the account as written (split at "/", not validated), to see what kcredd does with
// malformed names.
// ACTION: provision, get, list, watch, get-kubeconfig, get-token, rotate, delete, list-clusters,
// doctor.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/connection.h"
#include "common/account/account_ref.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace {

using kcred::v1::CredentialBroker;

int Report(const grpc::Status& status, const std::string& detail, bool done) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  std::cout << (code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN") << "\n"
            << (status.ok() ? detail : status.error_message()) << "\n";
  return status.ok() && done ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  kcred::client::ConnectionOptions options;
  std::vector<std::string> args;
  bool raw = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (arg == "--server") {
      options.server = value();
    } else if (arg == "--ca") {
      options.ca_file = value();
    } else if (arg == "--cert") {
      options.cert_file = value();
    } else if (arg == "--key") {
      options.key_file = value();
    } else if (arg == "--raw") {
      raw = true;
    } else {
      args.push_back(arg);
    }
  }
  if (args.size() != 2) {
    std::cerr << "usage: kcred-rpc --server ADDR [--ca F --cert F --key F] ACTION ACCOUNT\n";
    return 2;
  }
  const std::string& action = args[0];
  absl::StatusOr<kcred::v1::AccountRef> ref = kcred::ParseAccountRef(args[1]);
  if (raw) {
    std::vector<std::string> parts = absl::StrSplit(args[1], absl::MaxSplits('/', 2));
    parts.resize(3);
    kcred::v1::AccountRef as_written;
    as_written.set_cluster(parts[0]);
    as_written.set_namespace_(parts[1]);
    as_written.set_name(parts[2]);
    ref = as_written;
  }
  if (!ref.ok()) {
    std::cerr << ref.status().message() << "\n";
    return 2;
  }
  auto channel = kcred::client::Connect(options);
  if (!channel.ok()) {
    std::cerr << channel.status().message() << "\n";
    return 2;
  }
  auto stub = CredentialBroker::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (action == "provision") {
    kcred::v1::ProvisionAccountRequest request;
    *request.mutable_ref() = *ref;
    auto* rule = request.mutable_spec()->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    kcred::v1::ProvisionAccountResponse response;
    grpc::Status status = stub->ProvisionAccount(&context, request, &response);
    return Report(status, kcred::v1::ProvisionOutcome_Name(response.outcome()), true);
  }
  if (action == "get") {
    kcred::v1::GetAccountRequest request;
    *request.mutable_ref() = *ref;
    kcred::v1::Account response;
    grpc::Status status = stub->GetAccount(&context, request, &response);
    return Report(status, absl::StrCat("generation ", response.status().generation()), true);
  }
  if (action == "list") {
    kcred::v1::ListAccountsRequest request;
    request.mutable_selector()->set_cluster(ref->cluster());
    request.mutable_selector()->set_namespace_(ref->namespace_());
    request.mutable_selector()->set_name(ref->name());
    kcred::v1::ListAccountsResponse response;
    grpc::Status status = stub->ListAccounts(&context, request, &response);
    return Report(status, absl::StrCat(response.accounts_size(), " listed"),
                  response.accounts_size() == 1);
  }
  if (action == "watch") {
    kcred::v1::WatchAccountsRequest request;
    request.mutable_selector()->set_cluster(ref->cluster());
    request.mutable_selector()->set_namespace_(ref->namespace_());
    request.mutable_selector()->set_name(ref->name());
    request.set_send_initial_state(true);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto reader = stub->WatchAccounts(&context, request);
    kcred::v1::AccountEvent event;
    if (reader->Read(&event)) {
      context.TryCancel();
      while (reader->Read(&event)) {
      }
      (void)reader->Finish();
      return Report(grpc::Status::OK, kcred::v1::EventType_Name(event.type()),
                    event.type() == kcred::v1::EVENT_TYPE_SNAPSHOT);
    }
    return Report(reader->Finish(), "no event", false);
  }
  if (action == "get-kubeconfig") {
    kcred::v1::GetKubeconfigRequest request;
    *request.mutable_ref() = *ref;
    kcred::v1::GetKubeconfigResponse response;
    grpc::Status status = stub->GetKubeconfig(&context, request, &response);
    return Report(status, response.token_fingerprint(), true);  // never the kubeconfig itself
  }
  if (action == "get-token") {
    kcred::v1::GetTokenRequest request;
    *request.mutable_ref() = *ref;
    kcred::v1::GetTokenResponse response;
    grpc::Status status = stub->GetToken(&context, request, &response);
    return Report(status, response.token_fingerprint(), true);  // never the token itself
  }
  if (action == "rotate") {
    kcred::v1::RotateTokenRequest request;
    *request.mutable_ref() = *ref;
    request.mutable_grace()->set_seconds(1);
    kcred::v1::RotateTokenResponse response;
    grpc::Status status = stub->RotateToken(&context, request, &response);
    return Report(status, absl::StrCat("generation ", response.account().status().generation()),
                  true);
  }
  if (action == "delete") {
    kcred::v1::DeleteAccountRequest request;
    *request.mutable_ref() = *ref;
    kcred::v1::DeleteAccountResponse response;
    grpc::Status status = stub->DeleteAccount(&context, request, &response);
    return Report(status, absl::StrCat(response.deleted_objects_size(), " deleted"), true);
  }
  if (action == "list-clusters") {
    kcred::v1::ListClustersResponse response;
    grpc::Status status = stub->ListClusters(&context, kcred::v1::ListClustersRequest(), &response);
    bool listed = false;
    for (const auto& cluster : response.clusters()) listed |= cluster.name() == ref->cluster();
    return Report(status, absl::StrCat(response.clusters_size(), " clusters"), listed);
  }
  if (action == "doctor") {
    kcred::v1::DoctorRequest request;
    request.set_cluster(ref->cluster());
    request.set_namespace_(ref->namespace_());
    request.set_name(ref->name());
    kcred::v1::DoctorResponse response;
    grpc::Status status = stub->Doctor(&context, request, &response);
    return Report(status, absl::StrCat(response.findings_size(), " findings"), true);
  }
  std::cerr << "kcred-rpc: unknown action \"" << action << "\"\n";
  return 2;
}
