// kcred-bench: load tools for kcredd benchmarks, over kcredd's real gRPC API.
//   kcred-bench provision --server unix:/path --count 10000 --concurrency 16 --ttl 24h
//       provisions accounts dev/bench/acct-00000... (namespace created when missing)
//   kcred-bench get-token --server unix:/path --count 10000 --requests 100000 --concurrency 8
//       calls GetToken for random accounts and prints calls per second
//   kcred-bench fetch --server unix:/path --count 1000 --concurrency 8 --duration 10m
//       fetches kubeconfigs and tokens of random accounts until the duration ends, checking each
//       answer: a token already expired when it arrives (its JWT exp, and the expire_time kcredd
//       reports) or a generation older than one already seen for the account fails the run
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
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
ABSL_FLAG(double, rotate_at, 0,
          "provision: rotate at this fraction of the ttl (0: kcredd's default)");
ABSL_FLAG(absl::Duration, grace, absl::InfiniteDuration(),
          "provision: how long a replaced token stays valid (default: kcredd's)");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(1), "fetch: how long to fetch");
ABSL_FLAG(absl::Duration, report_every, absl::Minutes(1), "fetch: interval of the progress lines");

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
    if (absl::GetFlag(FLAGS_rotate_at) > 0) {
      spec->mutable_token()->set_rotate_fraction(absl::GetFlag(FLAGS_rotate_at));
    }
    if (absl::GetFlag(FLAGS_grace) != absl::InfiniteDuration()) {
      spec->mutable_token()->mutable_grace()->set_seconds(
          absl::ToInt64Seconds(absl::GetFlag(FLAGS_grace)));
    }
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

// The exp claim of a JWT (not verified: the bench only asks when the token says it ends).
std::optional<absl::Time> JwtExpiry(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number_integer()) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

// The bearer token of a kubeconfig kcredd rendered (its one user's "token:" line).
std::string KubeconfigToken(absl::string_view kubeconfig) {
  for (absl::string_view line : absl::StrSplit(kubeconfig, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "token:")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

// What the fetch clients saw, shared by their threads.
class FetchTally {
 public:
  // One answer: whether it was an error, and whether the token had expired on arrival.
  void Count(const grpc::Status& status, bool expired) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (!status.ok()) {
      ++failed_;
      if (first_failure_.empty()) {
        first_failure_ =
            absl::StrFormat("code %d: %s", status.error_code(), status.error_message());
      }
    }
    if (expired) ++expired_;
  }
  // A token of `account` with `generation`; counts a regression when an older one than already
  // seen is served (a rotation the daemon lost or rolled back).
  void SawGeneration(int account, int64_t generation) {
    absl::MutexLock lock(&mu_);
    int64_t& newest = newest_[account];
    if (generation < newest) ++regressions_;
    newest = std::max(newest, generation);
  }
  std::string Line() const {
    absl::MutexLock lock(&mu_);
    int64_t rotations = 0;
    for (const auto& [account, generation] : newest_) rotations += generation - 1;
    return absl::StrFormat(
        "calls %d, failed %d, expired-served %d, generation regressions %d, accounts seen %d, "
        "newest generations sum to %d rotations%s",
        calls_, failed_, expired_, regressions_, newest_.size(), rotations,
        first_failure_.empty() ? "" : "; first failure: " + first_failure_);
  }
  bool Clean() const {
    absl::MutexLock lock(&mu_);
    return failed_ == 0 && expired_ == 0 && regressions_ == 0;
  }

 private:
  mutable absl::Mutex mu_;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t expired_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t regressions_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int64_t> newest_ ABSL_GUARDED_BY(mu_);
  std::string first_failure_ ABSL_GUARDED_BY(mu_);
};

// One fetch: GetKubeconfig on even rounds, GetToken on odd ones; checks the answer's expiry.
void FetchOnce(kcred::v1::CredentialBroker::Stub& stub, int account, bool kubeconfig,
               FetchTally& tally) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::string token;
  absl::Time reported_expiry = absl::InfiniteFuture();
  grpc::Status status;
  if (kubeconfig) {
    kcred::v1::GetKubeconfigRequest request;
    *request.mutable_ref() = Ref(account);
    kcred::v1::GetKubeconfigResponse response;
    status = stub.GetKubeconfig(&context, request, &response);
    token = KubeconfigToken(response.kubeconfig());
    if (response.has_expire_time()) {
      reported_expiry = absl::FromUnixSeconds(response.expire_time().seconds());
    }
  } else {
    kcred::v1::GetTokenRequest request;
    *request.mutable_ref() = Ref(account);
    kcred::v1::GetTokenResponse response;
    status = stub.GetToken(&context, request, &response);
    token = response.token();
    if (response.has_expire_time()) {
      reported_expiry = absl::FromUnixSeconds(response.expire_time().seconds());
    }
    if (status.ok()) tally.SawGeneration(account, response.generation());
  }
  if (!status.ok()) {
    tally.Count(status, /*expired=*/false);
    return;
  }
  const absl::Time now = absl::Now();
  const std::optional<absl::Time> exp = JwtExpiry(token);
  tally.Count(status, exp.value_or(absl::InfiniteFuture()) <= now || reported_expiry <= now);
}

// After the load: every account serves a token that has not expired and whose rotation is not
// overdue by more than a minute (an account that stopped rotating would be). Prints the tally.
bool FinalCheck(kcred::v1::CredentialBroker::Stub& stub) {
  const int count = absl::GetFlag(FLAGS_count);
  std::atomic<int> failed{0}, expired{0}, overdue{0};
  std::atomic<int64_t> rotations{0};
  Parallel(count, absl::GetFlag(FLAGS_concurrency), [&](int i) {
    kcred::v1::GetTokenRequest request;
    *request.mutable_ref() = Ref(i);
    kcred::v1::GetTokenResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!stub.GetToken(&context, request, &response).ok()) {
      ++failed;
      return false;
    }
    const absl::Time now = absl::Now();
    if (JwtExpiry(response.token()).value_or(absl::InfiniteFuture()) <= now) ++expired;
    if (response.has_next_rotation_time() &&
        absl::FromUnixSeconds(response.next_rotation_time().seconds()) + absl::Minutes(1) < now) {
      ++overdue;
    }
    rotations += response.generation() - 1;
    return true;
  });
  std::cout << absl::StrFormat(
      "final check: %d accounts, failed %d, expired %d, rotation overdue by more than 1m %d, "
      "rotations in all %d\n",
      count, failed.load(), expired.load(), overdue.load(), rotations.load());
  return failed == 0 && expired == 0 && overdue == 0;
}

int Fetch(kcred::v1::CredentialBroker::Stub& stub) {
  const int count = absl::GetFlag(FLAGS_count);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::GetFlag(FLAGS_duration);
  FetchTally tally;
  std::atomic<bool> done{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < absl::GetFlag(FLAGS_concurrency); ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int round = 0; !done; ++round) {
        FetchOnce(stub, std::uniform_int_distribution<int>(0, count - 1)(random), round % 2 == 0,
                  tally);
      }
    });
  }
  for (absl::Time next = start + absl::GetFlag(FLAGS_report_every); next < end;
       next += absl::GetFlag(FLAGS_report_every)) {
    absl::SleepFor(next - absl::Now());  // the report's pace
    std::cout << absl::StrFormat("fetch %s: %s\n", absl::FormatDuration(absl::Now() - start),
                                 tally.Line())
              << std::flush;
  }
  absl::SleepFor(end - absl::Now());
  done = true;
  for (auto& c : clients) c.join();
  std::cout << "fetch done: " << tally.Line() << "\n";
  return tally.Clean() && FinalCheck(stub) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load tools for kcredd benchmarks.\n  kcred-bench provision --server ADDR --count N\n"
      "  kcred-bench get-token --server ADDR --count N --requests M\n"
      "  kcred-bench fetch --server ADDR --count N --concurrency C --duration D");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2 || absl::GetFlag(FLAGS_server).empty()) {
    std::cerr << "usage: kcred-bench provision|get-token|fetch --server ADDR [flags]; see --help\n";
    return 2;
  }
  auto channel =
      grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials());
  auto stub = kcred::v1::CredentialBroker::NewStub(channel);
  const std::string command = args[1];
  if (command == "provision") return Provision(*stub);
  if (command == "get-token") return GetToken(*stub);
  if (command == "fetch") return Fetch(*stub);
  std::cerr << "kcred-bench: unknown command " << command << "\n";
  return 2;
}
