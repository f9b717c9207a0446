// kcred-bench: load tools for kcredd benchmarks, over kcredd's real gRPC API.
//   kcred-bench provision --server unix:/path --count 10000 --concurrency 16 --ttl 24h
//       provisions accounts dev/bench/acct-00000... (namespace created when missing)
//   kcred-bench get-token --server unix:/path --count 10000 --requests 100000 --concurrency 8
//       calls GetToken for random accounts and prints calls per second
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

ABSL_FLAG(std::string, server, "", "kcredd address, e.g. unix:/tmp/kcredd-dev.x/kcredd.sock");
ABSL_FLAG(std::string, cluster, "dev", "cluster of the accounts");
ABSL_FLAG(std::string, namespace_name, "bench", "namespace of the accounts");
ABSL_FLAG(int, count, 1000, "number of accounts (acct-00000 ... )");
ABSL_FLAG(int, concurrency, 8, "parallel calls");
ABSL_FLAG(int, requests, 10000, "get-token: total calls");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(24), "provision: token lifetime");

namespace {

kcred::v1::AccountRef Ref(int i) {
  kcred::v1::AccountRef ref;
  ref.set_cluster(absl::GetFlag(FLAGS_cluster));
  ref.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
  ref.set_name(absl::StrFormat("acct-%05d", i));
  return ref;
}

// Runs `call(i)` for i in [0, n) on `concurrency` threads; returns the number of failures.
template <typename Call>
int Parallel(int n, int concurrency, Call call) {
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next++) < n;) {
        if (!call(i)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failures;
}

int Provision(kcred::v1::CredentialBroker::Stub& stub) {
  const int count = absl::GetFlag(FLAGS_count);
  const absl::Time start = absl::Now();
  int failures = Parallel(count, absl::GetFlag(FLAGS_concurrency), [&](int i) {
    kcred::v1::ProvisionAccountRequest request;
    *request.mutable_ref() = Ref(i);
    kcred::v1::AccountSpec* spec = request.mutable_spec();
    spec->set_create_namespace(true);
    kcred::v1::PolicyRule* rule = spec->mutable_access()->mutable_rules()->add_rules();
    rule->add_verbs("get");
    rule->add_resources("pods");
    spec->mutable_token()->mutable_ttl()->set_seconds(
        absl::ToInt64Seconds(absl::GetFlag(FLAGS_ttl)));
    kcred::v1::ProvisionAccountResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    grpc::Status status = stub.ProvisionAccount(&context, request, &response);
    if (!status.ok() && i < 3) std::cerr << "provision: " << status.error_message() << "\n";
    return status.ok();
  });
  const absl::Duration took = absl::Now() - start;
  std::cout << absl::StrFormat("provisioned %d accounts (%d failed) in %s: %.1f/s\n",
                               count - failures, failures, absl::FormatDuration(took),
                               count / absl::ToDoubleSeconds(took));
  return failures == 0 ? 0 : 1;
}

int GetToken(kcred::v1::CredentialBroker::Stub& stub) {
  const int count = absl::GetFlag(FLAGS_count);
  const int requests = absl::GetFlag(FLAGS_requests);
  const absl::Time start = absl::Now();
  int failures = Parallel(requests, absl::GetFlag(FLAGS_concurrency), [&](int i) {
    kcred::v1::GetTokenRequest request;
    *request.mutable_ref() = Ref(static_cast<int>((i * 7919L) % count));
    kcred::v1::GetTokenResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub.GetToken(&context, request, &response).ok();
  });
  const absl::Duration took = absl::Now() - start;
  std::cout << absl::StrFormat("%d GetToken calls (%d failed) in %s: %.0f/s\n", requests, failures,
                               absl::FormatDuration(took), requests / absl::ToDoubleSeconds(took));
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load tools for kcredd benchmarks.\n  kcred-bench provision --server ADDR --count N\n"
      "  kcred-bench get-token --server ADDR --count N --requests M");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2 || absl::GetFlag(FLAGS_server).empty()) {
    std::cerr << "usage: kcred-bench provision|get-token --server ADDR [flags]; see --help\n";
    return 2;
  }
  auto channel =
      grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials());
  auto stub = kcred::v1::CredentialBroker::NewStub(channel);
  const std::string command = args[1];
  if (command == "provision") return Provision(*stub);
  if (command == "get-token") return GetToken(*stub);
  std::cerr << "kcred-bench: unknown command " << command << "\n";
  return 2;
}
