#include "tests/support/kill_test.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::testing {
namespace {

using nlohmann::json;

constexpr char kManagedBy[] = "app.kubernetes.io/managed-by=kcred";

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The exp claim of a JWT, without verifying it; nullopt when it has none.
std::optional<absl::Time> ExpClaim(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  json claims = json::parse(payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

LagStats Stats(std::vector<absl::Duration> lags) {
  LagStats stats;
  stats.count = static_cast<int>(lags.size());
  if (lags.empty()) return stats;
  std::sort(lags.begin(), lags.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(lags.size())));
    return lags[std::min(lags.size() - 1, i == 0 ? 0 : i - 1)];
  };
  stats.p50 = rank(0.50);
  stats.p99 = rank(0.99);
  stats.max = lags.back();
  return stats;
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.0f ms", absl::ToDoubleMilliseconds(d));
}

std::string FormatLag(const LagStats& s) {
  if (s.count == 0) return "no revocations";
  return absl::StrCat("p50 ", Ms(s.p50), ", p99 ", Ms(s.p99), ", max ", Ms(s.max), " (", s.count,
                      " generations)");
}

// "ns/name" of an account.
std::string AccountKey(const v1::AccountRef& ref) {
  return absl::StrCat(ref.namespace_(), "/", ref.name());
}

// One kill test run: the observers' shared records and the driver.
class KillTest {
 public:
  KillTest(KcredEnv& env, const KillTestOptions& options)
      : env_(env), options_(options), random_(options.seed), provisioned_(options.accounts) {
    const int namespaces = std::max(1, options.accounts / 100);
    for (int i = 0; i < options.accounts; ++i) {
      v1::AccountRef ref;
      ref.set_cluster("dev");
      ref.set_namespace_(absl::StrCat("kill-", i % namespaces));
      ref.set_name(absl::StrFormat("bot-%04d", i));
      refs_.push_back(ref);
    }
  }

  KillTestReport Run();

 private:
  struct Generation {
    std::string fingerprint;
    std::optional<absl::Time> issue_time;   // status.issue_time while it was current
    std::optional<absl::Time> revoke_time;  // from status.pending_revocations
  };
  struct SecretSeen {
    std::optional<absl::Time> added, deleted;
  };

  std::unique_ptr<v1::CredentialBroker::Stub> NewStub() const {
    grpc::ChannelArguments args;
    // kcredd comes back within a second: reconnect quickly rather than with gRPC's long backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    return v1::CredentialBroker::NewStub(grpc::CreateCustomChannel(
        "unix:" + env_.socket(), grpc::InsecureChannelCredentials(), args));
  }
  std::unique_ptr<httplib::SSLClient> ClusterClient() const {
    std::vector<std::string> hp = absl::StrSplit(env_.address(), ':');
    auto client = std::make_unique<httplib::SSLClient>(hp[0], std::stoi(hp[1]));
    client->set_ca_cert_path(env_.File("cluster/ca.crt").c_str());
    client->enable_server_certificate_verification(true);
    client->set_bearer_token_auth(admin_token_.c_str());
    client->set_read_timeout(std::chrono::seconds(30));
    return client;
  }

  void Restart();
  void Kill(const std::string& moment);
  void Provision();
  void PollTokens(int index);
  void PollAccounts();
  void WatchSecrets();
  // Records a generation seen for an account (with its fingerprint, when known).
  void NoteGeneration(const std::string& account, int64_t generation,
                      const std::string& fingerprint,
                      std::optional<absl::Time> revoke_time = std::nullopt,
                      std::optional<absl::Time> issue_time = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When to kill for `moment` within [now, window_end]: a dense moment of rotations or a due
  // revocation, from the accounts' last snapshot; nullopt when none falls in the window.
  std::optional<absl::Time> TargetedMoment(const std::string& moment, absl::Time window_end);
  void FinalChecks(KillTestReport& report);
  void CheckOrphans(KillTestReport& report);
  void RevocationLag(KillTestReport& report, const std::set<std::string>& present_secrets,
                     absl::Time watch_stopped);
  bool TokenAccepted(httplib::SSLClient& client, const std::string& token,
                     const std::string& username) const;

  KcredEnv& env_;
  const KillTestOptions options_;
  std::mt19937 random_;
  std::vector<v1::AccountRef> refs_;
  std::vector<std::atomic<bool>> provisioned_;
  std::string admin_token_;
  std::atomic<bool> stop_{false};          // ends the Secret watch
  std::atomic<bool> stop_polling_{false};  // ends the pollers
  std::atomic<bool> provisioning_done_{false};
  std::atomic<int> provision_failures_{0};
  absl::Time last_start_;
  absl::Duration slowest_restart_;
  std::map<std::string, int> kills_by_moment_;
  std::vector<std::thread> pollers_;  // of tokens and of accounts

  absl::Mutex mu_;
  // account -> generation -> what was seen of it.
  std::map<std::string, std::map<int64_t, Generation>> generations_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> current_ ABSL_GUARDED_BY(mu_);
  int fingerprint_conflicts_ ABSL_GUARDED_BY(mu_) = 0;
  int regressions_ ABSL_GUARDED_BY(mu_) = 0;
  int vanished_ ABSL_GUARDED_BY(mu_) = 0;
  int expired_served_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t served_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unavailable_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Time> next_rotations_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> revocations_due_ ABSL_GUARDED_BY(mu_);
  // "ns/account#generation" of anchor Secrets -> when the watch saw them come and go.
  std::map<std::string, SecretSeen> secrets_ ABSL_GUARDED_BY(mu_);
};

void KillTest::Restart() {
  const absl::Time start = absl::Now();
  last_start_ = start;
  env_.StartKcredd();
  slowest_restart_ = std::max(slowest_restart_, absl::Now() - start);
}

void KillTest::Kill(const std::string& moment) {
  env_.KillKcredd();
  ++kills_by_moment_[moment];
  Restart();
}

void KillTest::NoteGeneration(const std::string& account, int64_t generation,
                              const std::string& fingerprint, std::optional<absl::Time> revoke_time,
                              std::optional<absl::Time> issue_time) {
  if (generation <= 0) return;
  Generation& g = generations_[account][generation];
  if (!fingerprint.empty()) {
    if (!g.fingerprint.empty() && g.fingerprint != fingerprint) ++fingerprint_conflicts_;
    g.fingerprint = fingerprint;
  }
  if (revoke_time.has_value() && !g.revoke_time.has_value()) g.revoke_time = revoke_time;
  if (issue_time.has_value() && !g.issue_time.has_value()) g.issue_time = issue_time;
}

void KillTest::Provision() {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < options_.provision_concurrency; ++t) {
    threads.emplace_back([&] {
      auto stub = NewStub();
      for (int i; (i = next++) < options_.accounts;) {
        const v1::ProvisionAccountRequest request =
            RotatingAccountRequest(refs_[i], options_.ttl, options_.rotate_fraction);
        // Retried through kills (the call is idempotent) until it succeeds or a minute passes.
        const absl::Time give_up = absl::Now() + absl::Minutes(1);
        grpc::Status status;
        do {
          v1::ProvisionAccountResponse response;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          status = stub->ProvisionAccount(&context, request, &response);
          if (status.ok()) break;
          absl::SleepFor(absl::Milliseconds(100));  // kcredd is restarting
        } while (absl::Now() < give_up);
        if (status.ok()) {
          provisioned_[i] = true;
        } else {
          ADD_FAILURE() << "provisioning " << AccountKey(refs_[i]) << ": "
                        << status.error_message();
          ++provision_failures_;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  provisioning_done_ = true;
}

void KillTest::PollTokens(int index) {
  auto stub = NewStub();
  int64_t call = 0;
  while (!stop_polling_) {
    for (size_t i = index; i < refs_.size() && !stop_polling_; i += options_.pollers) {
      if (!provisioned_[i]) continue;
      const std::string account = AccountKey(refs_[i]);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      grpc::Status status;
      std::vector<std::pair<std::string, absl::Time>> tokens;  // token, response expire_time
      int64_t generation = 0;
      std::string fingerprint;
      if (++call % 4 == 0) {
        v1::GetKubeconfigRequest request;
        *request.mutable_ref() = refs_[i];
        v1::GetKubeconfigResponse response;
        status = stub->GetKubeconfig(&context, request, &response);
        for (const std::string& token : FindTokens(response.kubeconfig())) {
          tokens.emplace_back(token, FromProto(response.expire_time()));
        }
        if (status.ok() && tokens.empty())
          tokens.emplace_back("", FromProto(response.expire_time()));
        generation = response.generation();
        fingerprint = response.token_fingerprint();
      } else {
        v1::GetTokenRequest request;
        *request.mutable_ref() = refs_[i];
        v1::GetTokenResponse response;
        status = stub->GetToken(&context, request, &response);
        tokens.emplace_back(response.token(), FromProto(response.expire_time()));
        generation = response.generation();
        fingerprint = response.token_fingerprint();
      }
      const absl::Time received = absl::Now();
      if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
        {
          absl::MutexLock lock(&mu_);
          ++unavailable_;  // kcredd down, starting, or refusing to serve an expired token
        }
        absl::SleepFor(absl::Milliseconds(50));  // not spinning while kcredd restarts
        continue;
      }
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        ADD_FAILURE() << account << " vanished: " << status.error_message();
        ++vanished_;
        continue;
      }
      ++served_;
      bool expired = false;
      for (const auto& [token, expire_time] : tokens) {
        if (expire_time <= received) expired = true;
        std::optional<absl::Time> exp = ExpClaim(token);
        if (exp.has_value() && *exp <= received) expired = true;
      }
      if (expired) {
        ADD_FAILURE() << account << ": generation " << generation << " was served expired";
        ++expired_served_;
      }
      NoteGeneration(account, generation, fingerprint);
    }
    absl::SleepFor(absl::Milliseconds(20));  // the pollers' pace between rounds
  }
}

void KillTest::PollAccounts() {
  auto stub = NewStub();
  while (!stop_polling_) {
    grpc::Status status;
    std::vector<v1::Account> accounts = ListAllAccounts(*stub, status);
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      next_rotations_.clear();
      revocations_due_.clear();
      for (const v1::Account& account : accounts) {
        const std::string key = AccountKey(account.ref());
        const v1::AccountStatus& s = account.status();
        NoteGeneration(key, s.generation(), s.token_fingerprint(), std::nullopt,
                       FromProto(s.issue_time()));
        int64_t& current = current_[key];
        if (s.generation() < current) {
          ADD_FAILURE() << key << " went back from generation " << current << " to "
                        << s.generation();
          ++regressions_;
        }
        current = std::max(current, s.generation());
        if (s.has_next_rotation_time())
          next_rotations_.push_back(FromProto(s.next_rotation_time()));
        for (const v1::PendingRevocation& p : s.pending_revocations()) {
          NoteGeneration(key, p.generation(), p.token_fingerprint(), FromProto(p.revoke_time()));
          revocations_due_.push_back(FromProto(p.revoke_time()));
        }
      }
    }
    absl::SleepFor(absl::Milliseconds(200));  // the poller's pace
  }
}

void KillTest::WatchSecrets() {
  std::string resource_version;
  while (!stop_) {
    auto client = ClusterClient();
    std::string path = absl::StrCat(
        "/api/v1/secrets?watch=true&allowWatchBookmarks=true&timeoutSeconds=5&labelSelector=",
        httplib::detail::encode_query_param(kManagedBy));
    if (!resource_version.empty()) absl::StrAppend(&path, "&resourceVersion=", resource_version);
    std::string buffer;
    bool expired = false;
    auto result = client->Get(path, [&](const char* data, size_t size) {
      buffer.append(data, size);
      for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
        const absl::Time received = absl::Now();
        json event = json::parse(buffer.substr(0, nl), nullptr, false);
        buffer.erase(0, nl + 1);
        if (!event.is_object()) continue;
        const std::string type = event.value("type", "");
        const json& object = event["object"];
        if (type == "ERROR") {
          expired = true;  // 410: the history is gone; start again from the current objects
          continue;
        }
        const json& meta = object["metadata"];
        resource_version = meta.value("resourceVersion", resource_version);
        if (type == "BOOKMARK" || !meta.contains("labels")) continue;
        const json& labels = meta["labels"];
        const std::string key =
            absl::StrCat(meta.value("namespace", ""), "/", labels.value("kcred.io/account", ""),
                         "#", labels.value("kcred.io/generation", ""));
        absl::MutexLock lock(&mu_);
        SecretSeen& seen = secrets_[key];
        if (type == "ADDED" && !seen.added.has_value()) seen.added = received;
        if (type == "DELETED" && !seen.deleted.has_value()) seen.deleted = received;
      }
      return !stop_.load();
    });
    if (expired) resource_version.clear();
    if (!result) absl::SleepFor(absl::Milliseconds(100));  // before connecting again
  }
}

std::optional<absl::Time> KillTest::TargetedMoment(const std::string& moment,
                                                   absl::Time window_end) {
  const absl::Time now = absl::Now() + absl::Milliseconds(50);
  std::vector<absl::Time> times;
  {
    absl::MutexLock lock(&mu_);
    times = moment == "rotation" ? next_rotations_ : revocations_due_;
  }
  std::sort(times.begin(), times.end());
  auto first = std::lower_bound(times.begin(), times.end(), now);
  auto last = std::upper_bound(times.begin(), times.end(), window_end);
  if (first == last) return std::nullopt;
  if (moment == "revocation") return *first + absl::Milliseconds(30);  // deletions under way
  // The 500 ms with the most rotations due.
  auto best = first;
  long best_count = 0;
  for (auto it = first; it != last; ++it) {
    long count = std::upper_bound(it, last, *it + absl::Milliseconds(500)) - it;
    if (count > best_count) {
      best = it;
      best_count = count;
    }
  }
  return *best + absl::Milliseconds(250);
}

bool KillTest::TokenAccepted(httplib::SSLClient& client, const std::string& token,
                             const std::string& username) const {
  json review = {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenReview"},
                 {"spec", {{"token", token}}}};
  auto res =
      client.Post("/apis/authentication.k8s.io/v1/tokenreviews", review.dump(), "application/json");
  if (!res || res->status != 201) return false;
  json answer = json::parse(res->body, nullptr, false);
  if (!answer.is_object()) return false;
  const json& status = answer["status"];
  return status.value("authenticated", false) && status.contains("user") &&
         status["user"].value("username", "") == username;
}

void KillTest::CheckOrphans(KillTestReport& report) {
  // Owned: what accounts list just before and just after the cluster is read, so that a
  // rotation committed in between does not make its new Secret look orphaned.
  auto stub = NewStub();
  std::set<std::string> owned;
  auto note_owned = [&] {
    grpc::Status status;
    for (const v1::Account& account : ListAllAccounts(*stub, status)) {
      for (const v1::ObjectReference& o : account.status().managed_objects()) {
        owned.insert(absl::StrCat(o.kind(), "/", o.namespace_(), "/", o.name()));
      }
    }
    EXPECT_TRUE(status.ok()) << "ListAccounts: " << status.error_message();
  };
  note_owned();
  // Namespaces kcred creates are labelled but deliberately outlive their accounts
  // (daemon/broker/kube_objects.h); every other labelled kind must be owned.
  const std::string listed = env_.AdminOk(
      {"get", "serviceaccounts,secrets,roles,rolebindings,clusterroles,clusterrolebindings", "-A",
       "-l", kManagedBy, "-o", "json"});
  note_owned();
  json items = json::parse(listed, nullptr, false);
  ASSERT_TRUE(items.is_object()) << "kubectl get -o json printed no JSON";
  const absl::Time now = absl::Now();
  for (const json& item : items["items"]) {
    const json& meta = item["metadata"];
    const std::string key = absl::StrCat(item.value("kind", ""), "/", meta.value("namespace", ""),
                                         "/", meta.value("name", ""));
    if (owned.count(key) > 0) continue;
    // An object younger than this may belong to an operation still under way (issued, not yet
    // committed); kcredd's own sweep leaves it as long.
    absl::Time created;
    std::string error;
    if (absl::ParseTime(absl::RFC3339_full, meta.value("creationTimestamp", ""), &created,
                        &error) &&
        created + options_.grace + absl::Seconds(6) > now) {
      continue;
    }
    ++report.orphans;
    if (report.orphan_examples.size() < 5) report.orphan_examples.push_back(key);
  }
  // kcred doctor must agree with the check above: no drift left. Accounts keep rotating, so a
  // finding may be an operation still under way (a revocation due this instant); drift that
  // persists is what fails, so it is asked up to ten times, two seconds apart, until it is clean.
  for (report.doctor_runs = 1; report.doctor_runs <= 10; ++report.doctor_runs) {
    RunResult doctor = env_.Kcred({"doctor", "-o", "json"});
    json answer = json::parse(doctor.out, nullptr, false);
    // Protobuf's JSON leaves an empty list out.
    report.doctor_findings = !answer.is_object() ? -1
                             : answer.contains("findings")
                                 ? static_cast<int>(answer["findings"].size())
                                 : 0;
    if (doctor.exit_code == 0 && report.doctor_findings == 0) break;
    report.doctor_last = doctor.exit_code == 0 || doctor.exit_code == 1 ? doctor.out.substr(0, 600)
                                                                        : doctor.err.substr(0, 600);
    absl::SleepFor(absl::Seconds(2));  // the pace of the retries, not a wait for an event
  }
}

void KillTest::RevocationLag(KillTestReport& report, const std::set<std::string>& present_secrets,
                             absl::Time watch_stopped) {
  std::vector<absl::Duration> all, after;
  absl::MutexLock lock(&mu_);
  for (const auto& [account, generations] : generations_) {
    for (const auto& [generation, g] : generations) {
      // The revoke time kcredd recorded; when no poll caught it pending, the successor's issue
      // time + grace, which is never later (kcredd sets it after issuing, at the commit), so the
      // lag is never understated.
      std::optional<absl::Time> revoke_time = g.revoke_time;
      auto successor = generations.find(generation + 1);
      if (!revoke_time.has_value() && successor != generations.end() &&
          successor->second.issue_time.has_value()) {
        revoke_time = *successor->second.issue_time + options_.grace;
        ++report.revoke_times_estimated;
      }
      if (!revoke_time.has_value()) continue;  // still current
      const std::string key = absl::StrCat(account, "#", generation);
      auto seen = secrets_.find(key);
      std::optional<absl::Time> deleted;
      if (seen != secrets_.end()) deleted = seen->second.deleted;
      if (!deleted.has_value()) {
        const absl::Time due = std::max(*revoke_time, last_start_) + options_.lag_bound;
        if (present_secrets.count(key) > 0) {
          if (due <= watch_stopped) {
            ADD_FAILURE() << account << " generation " << generation << " is not revoked "
                          << absl::FormatDuration(watch_stopped - *revoke_time)
                          << " after its revoke time";
            ++report.revocations_overdue;
          }
        } else if (due <= watch_stopped) {
          ++report.deletions_unobserved;
        }
        continue;
      }
      all.push_back(*deleted - *revoke_time);
      if (*deleted >= last_start_) after.push_back(*deleted - std::max(*revoke_time, last_start_));
    }
  }
  report.lag_all = Stats(std::move(all));
  report.lag_after_last_restart = Stats(std::move(after));
}

void KillTest::FinalChecks(KillTestReport& report) {
  // The pollers stop first, so that the final List is the last word on each generation.
  stop_polling_ = true;
  for (auto& t : pollers_) t.join();
  pollers_.clear();
  auto stub = NewStub();
  grpc::Status status;
  std::vector<v1::Account> accounts = ListAllAccounts(*stub, status);
  ASSERT_TRUE(status.ok()) << "ListAccounts after the last restart: " << status.error_message();
  std::set<std::string> present;
  for (const v1::Account& account : accounts) present.insert(AccountKey(account.ref()));
  for (const v1::AccountRef& ref : refs_) {
    if (present.count(AccountKey(ref)) == 0) {
      ADD_FAILURE() << AccountKey(ref) << " was lost";
      ++report.accounts_lost;
    }
  }

  // Generations: every one from 1 to the final one was observed, and none beyond it (the
  // pollers have stopped; the token checks below may see rotations after this List).
  {
    absl::MutexLock lock(&mu_);
    for (const v1::Account& account : accounts) {
      const std::string key = AccountKey(account.ref());
      NoteGeneration(key, account.status().generation(), account.status().token_fingerprint());
      const std::map<int64_t, Generation>& seen = generations_[key];
      for (int64_t g = 1; g <= account.status().generation(); ++g) {
        // A generation that lived between two polls is still seen by the cluster watch: its
        // anchor Secret was created (kcredd issues a generation's number once, reusing a
        // leftover anchor after a crash, so a skipped number has no anchor at all).
        auto anchor = secrets_.find(absl::StrCat(key, "#", g));
        if (anchor != secrets_.end() && anchor->second.added.has_value()) continue;
        if (seen.count(g) == 0) {
          ADD_FAILURE() << key << ": generation " << g << " was never observed";
          ++report.generation_gaps;
        }
      }
      if (!seen.empty() && seen.rbegin()->first > account.status().generation()) {
        ADD_FAILURE() << key << ": generation " << seen.rbegin()->first
                      << " was observed, the final one is " << account.status().generation();
        ++report.generation_regressions;
      }
      report.generations_observed += static_cast<int64_t>(seen.size());
    }
  }

  // Every account serves a valid token that the cluster accepts as its ServiceAccount.
  auto cluster = ClusterClient();
  for (const v1::Account& account : accounts) {
    v1::GetTokenRequest request;
    *request.mutable_ref() = account.ref();
    v1::GetTokenResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status got = stub->GetToken(&context, request, &response);
    const std::string key = AccountKey(account.ref());
    const std::string username = absl::StrCat("system:serviceaccount:", account.ref().namespace_(),
                                              ":", account.ref().name());
    if (!got.ok() || FromProto(response.expire_time()) <= absl::Now() ||
        !TokenAccepted(*cluster, response.token(), username)) {
      ADD_FAILURE() << key << " serves no token the cluster accepts: " << got.error_message();
      ++report.token_review_failures;
    }
    absl::MutexLock lock(&mu_);
    if (got.ok()) NoteGeneration(key, response.generation(), response.token_fingerprint());
  }

  CheckOrphans(report);

  std::set<std::string> secrets;
  const std::string listed = env_.AdminOk(
      {"get", "secrets", "-A", "-l", kManagedBy, "-o",
       R"(jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.labels.kcred\.io/account}#{.metadata.labels.kcred\.io/generation}{"\n"}{end})"});
  for (absl::string_view line : absl::StrSplit(listed, '\n', absl::SkipEmpty())) {
    secrets.insert(std::string(line));
  }
  stop_ = true;  // the watch ends now; what it saw until here counts
  RevocationLag(report, secrets, absl::Now());
}

KillTestReport KillTest::Run() {
  KillTestReport report;
  report.accounts = options_.accounts;
  report.lag_bound = options_.lag_bound;
  const absl::Time started = absl::Now();
  env_.StartCluster();
  if (::testing::Test::HasFatalFailure()) return report;
  // The pollers read tokens far faster than a real client should: lift kcredd's per-caller limit.
  env_.WriteConfig(
      "  qps: 1000\n  burst: 2000\n",
      absl::StrCat("defaults:\n  token:\n    grace: ", absl::ToInt64Milliseconds(options_.grace),
                   "ms\nlimits:\n  secret_reads_per_second: 1000000\n"
                   "  secret_reads_burst: 1000000\n"));
  admin_token_ = env_.AdminOk(
      {"config", "view", "--raw", "--minify", "-o", "jsonpath={.users[0].user.token}"});
  Restart();
  if (::testing::Test::HasFatalFailure()) return report;

  std::thread watch([this] { WatchSecrets(); });
  pollers_.emplace_back([this] { PollAccounts(); });
  for (int i = 0; i < options_.pollers; ++i) pollers_.emplace_back([this, i] { PollTokens(i); });

  // Kills while the accounts are provisioned through the API.
  const int provisioning_kills = std::max(1, options_.kills / 10);
  std::thread provisioner([this] { Provision(); });
  int kills = 0;
  while (!provisioning_done_ && kills < provisioning_kills) {
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(300, 1500)(random_)));
    if (provisioning_done_) break;
    Kill("provisioning");
    ++kills;
    if (::testing::Test::HasFatalFailure()) break;
  }
  provisioner.join();
  report.provisioning = absl::Now() - started;

  // The rest, spread over `duration`, each at a moment of its kind.
  const char* const kMoments[] = {"random", "rotation", "revocation", "sweep"};
  const int rest = options_.kills - kills;
  const absl::Time phase = absl::Now();
  for (int k = 0; k < rest && !::testing::Test::HasFatalFailure(); ++k) {
    const absl::Time window_begin = phase + options_.duration * k / rest;
    const absl::Time window_end = phase + options_.duration * (k + 1) / rest;
    std::string moment = kMoments[k % 4];
    absl::Time at;
    if (moment == "sweep") {
      // Right after READY, while the start-up sweep lists and deletes.
      at = absl::Now() + absl::Milliseconds(std::uniform_int_distribution<int>(0, 200)(random_));
    } else {
      std::optional<absl::Time> targeted;
      if (moment != "random") targeted = TargetedMoment(moment, std::max(window_end, absl::Now()));
      if (!targeted.has_value()) moment = "random";
      const double f = std::uniform_real_distribution<double>(0, 1)(random_);
      at = targeted.value_or(window_begin + (window_end - window_begin) * f);
    }
    absl::SleepFor(at - absl::Now());  // the kill's moment is the test's input
    Kill(moment);
    ++kills;
  }
  report.kills = kills;
  report.kills_by_moment = kills_by_moment_;
  report.slowest_restart = slowest_restart_;

  // Long enough after the last start for every account to rotate and revoke once more and for
  // the second start-up sweep (grace + 5 s after the start).
  report.settle = options_.ttl + options_.grace + absl::Seconds(5);
  absl::SleepFor(last_start_ + report.settle - absl::Now());
  if (!::testing::Test::HasFatalFailure()) FinalChecks(report);
  stop_polling_ = true;
  for (auto& t : pollers_) t.join();
  stop_ = true;
  watch.join();
  {
    absl::MutexLock lock(&mu_);
    report.provision_failures = provision_failures_;
    report.vanished = vanished_;
    report.served = served_;
    report.unavailable = unavailable_;
    report.expired_served = expired_served_;
    report.fingerprint_conflicts = fingerprint_conflicts_;
    report.generation_regressions += regressions_;
  }
  report.total = absl::Now() - started;
  return report;
}

}  // namespace

v1::ProvisionAccountRequest RotatingAccountRequest(const v1::AccountRef& ref, absl::Duration ttl,
                                                   double fraction) {
  v1::ProvisionAccountRequest request;
  *request.mutable_ref() = ref;
  v1::AccountSpec* spec = request.mutable_spec();
  spec->set_create_namespace(true);
  v1::PolicyRule* rule = spec->mutable_access()->mutable_rules()->add_rules();
  rule->add_verbs("get");
  rule->add_verbs("list");
  rule->add_resources("pods");
  spec->mutable_token()->mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  spec->mutable_token()->set_rotate_fraction(fraction);
  return request;
}

std::vector<v1::Account> ListAllAccounts(v1::CredentialBroker::Stub& stub, grpc::Status& status) {
  std::vector<v1::Account> out;
  v1::ListAccountsRequest request;
  request.set_page_size(1000);
  for (;;) {
    v1::ListAccountsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    status = stub.ListAccounts(&context, request, &response);
    if (!status.ok()) return out;
    out.insert(out.end(), response.accounts().begin(), response.accounts().end());
    if (response.next_page_token().empty()) return out;
    request.set_page_token(response.next_page_token());
  }
}

std::vector<std::string> KillTestReport::Broken() const {
  std::vector<std::string> broken;
  auto promise = [&](bool holds, const std::string& what) {
    if (!holds) broken.push_back(what);
  };
  promise(accounts_lost == 0 && vanished == 0, "every account present");
  promise(provision_failures == 0, "provisioning survives kills");
  promise(expired_served == 0, "no token served after its expiry");
  promise(token_review_failures == 0, "every account serves a token the cluster accepts");
  promise(generation_gaps == 0 && fingerprint_conflicts == 0 && generation_regressions == 0,
          "generations consecutive");
  promise(orphans == 0, "no kcred-labelled object without an owning committed generation");
  promise(doctor_findings == 0, "kcred doctor finds no drift");
  promise(
      revocations_overdue == 0 && lag_after_last_restart.max <= lag_bound,
      absl::StrCat("revocation lag after the last restart <= ", absl::FormatDuration(lag_bound)));
  return broken;
}

std::string KillTestReport::Format() const {
  std::vector<std::string> moments;
  for (const auto& [moment, n] : kills_by_moment) moments.push_back(absl::StrCat(moment, " ", n));
  std::ostringstream out;
  out << "kill test: " << accounts << " accounts, " << kills << " kill -9 restarts ("
      << absl::StrJoin(moments, ", ") << "), took " << absl::FormatDuration(total)
      << " (provisioning " << absl::FormatDuration(provisioning) << ", settle "
      << absl::FormatDuration(settle) << "); slowest restart to READY "
      << absl::FormatDuration(slowest_restart) << "\n";
  out << "  accounts lost: " << accounts_lost << " (vanished while running: " << vanished
      << ", provisioning failures: " << provision_failures << ")\n";
  out << "  expired served: " << expired_served << " of " << served
      << " tokens/kubeconfigs received (" << unavailable
      << " calls refused or failed while down)\n";
  out << "  token reviews failed: " << token_review_failures << "\n";
  out << "  generation gaps: " << generation_gaps
      << ", fingerprint conflicts: " << fingerprint_conflicts
      << ", regressions: " << generation_regressions << " (" << generations_observed
      << " generations observed)\n";
  out << "  orphans: " << orphans;
  if (!orphan_examples.empty()) out << " (" << absl::StrJoin(orphan_examples, ", ") << ")";
  out << "\n";
  out << "  kcred doctor: " << doctor_findings << " findings (run " << doctor_runs << " of 10)";
  if (doctor_findings != 0) out << "; last answer: " << doctor_last;
  out << "\n";
  out << "  revocation lag, all: " << FormatLag(lag_all) << "\n";
  out << "  revocation lag after the last restart: " << FormatLag(lag_after_last_restart)
      << "; bound " << absl::FormatDuration(lag_bound) << ", overdue " << revocations_overdue
      << " (deletions the watch missed: " << deletions_unobserved
      << ", revoke times estimated: " << revoke_times_estimated << ")\n";
  std::vector<std::string> broken = Broken();
  out << "  promises: " << (broken.empty() ? "all kept" : "BROKEN: " + absl::StrJoin(broken, "; "))
      << "\n";
  return out.str();
}

KillTestReport RunKillTest(KcredEnv& env, const KillTestOptions& options) {
  KillTest test(env, options);
  return test.Run();
}

}  // namespace kcred::testing
