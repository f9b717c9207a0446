// kcred-rotation-load: zero-downtime rotation under load. Provisions N accounts with short tokens
// on a running kcredd, then runs two clients per account that call the cluster without pause:
//   - a file client: `kcred watch ACCOUNT -o FILE` keeps FILE current and the client re-reads the
//     file whenever it changes (as an agent that watches its kubeconfig does);
//   - an exec client: credentials from the real `kcred token` exec plugin with client-go's
//     semantics (the plugin runs when there is no credential or the current one has reached its
//     expirationTimestamp; a 401 drops the credential);
// and real kubectl with an exec kubeconfig for a sample of requests. It stops once kcredd has
// rotated the accounts' tokens the target number of times in all, and prints the counts. Any
// 401 (Unauthorized) fails the run (exit 1), as does a client that never succeeded or a run that
// did not reach the target in time.
//   kcred-rotation-load --server unix:/path/kcredd.sock --kcred BIN/kcred --work_dir DIR
//       [--accounts 50] [--rotations 1000] [--ttl 20s] [--rotate_at 0.5] [--grace 10s] ...
#include <curl/curl.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/files.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

ABSL_FLAG(std::string, server, "", "kcredd's address for kcred, e.g. unix:/tmp/x/kcredd.sock");
ABSL_FLAG(std::string, kcred, "kcred", "the kcred binary");
ABSL_FLAG(std::string, kubectl, "kubectl", "the kubectl binary (for the sampled requests)");
ABSL_FLAG(std::string, work_dir, "", "directory for kubeconfigs, the token cache and logs");
ABSL_FLAG(std::string, cluster, "dev", "kcredd's name for the cluster");
ABSL_FLAG(std::string, account_namespace, "rotation-load", "namespace of the accounts");
ABSL_FLAG(int, accounts, 50, "accounts, each with a file client and an exec client");
ABSL_FLAG(int, rotations, 1000, "stop after this many rotations in all");
ABSL_FLAG(absl::Duration, ttl, absl::Seconds(20), "token lifetime");
ABSL_FLAG(double, rotate_at, 0.5, "rotate after this fraction of the ttl");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(10), "how long a rotated-out token stays valid");
ABSL_FLAG(absl::Duration, pause, absl::Milliseconds(250), "pause between a client's requests");
ABSL_FLAG(absl::Duration, kubectl_every, absl::Seconds(1),
          "run real kubectl (exec kubeconfig, round-robin over the accounts) this often");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(30), "give up (exit 1) after this long");

extern char** environ;

namespace kcred::bench {
namespace {

struct Counts {
  std::atomic<int64_t> file_requests{0}, exec_requests{0}, kubectl_requests{0};
  std::atomic<int64_t> unauthorized{0}, other_errors{0};
  std::atomic<int64_t> file_reloads{0}, plugin_runs{0};
};

struct RunResult {
  int exit_code = -1;
  std::string out;
};

// Runs argv (with `env` added to the environment) and returns its exit code and stdout; stderr
// goes to `err_path` (appended).
RunResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& err_path) {
  RunResult result;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (std::string& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (err != 0) {
    close(out[0]);
    return result;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.out.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

// Starts argv in the background with stdout and stderr to `log_path`; returns its pid (0: failed).
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : 0;
}

// The server, CA and token of a kubeconfig file written by kcred (one cluster, one user).
struct Endpoint {
  std::string server;
  std::string ca_pem;
  std::string token;  // a secret: never printed
};

std::optional<Endpoint> ReadKubeconfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return std::nullopt;
  try {
    const YAML::Node doc = YAML::Load(*text);
    Endpoint e;
    const YAML::Node cluster = doc["clusters"][0]["cluster"];
    e.server = cluster["server"].as<std::string>();
    if (!absl::Base64Unescape(cluster["certificate-authority-data"].as<std::string>(), &e.ca_pem)) {
      return std::nullopt;
    }
    const YAML::Node user = doc["users"][0]["user"];
    if (user["token"]) e.token = user["token"].as<std::string>();
    return e;
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

// One keep-alive HTTPS connection to the cluster, like a client-go transport.
class ApiClient {
 public:
  ApiClient() : curl_(curl_easy_init()) {}
  ~ApiClient() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GETs `path` with the bearer token; the HTTP status, or 0 when no answer came.
  long Get(const Endpoint& endpoint, const std::string& path) {
    body_.clear();
    curl_easy_setopt(curl_, CURLOPT_URL, (endpoint.server + path).c_str());
    curl_blob ca{const_cast<char*>(endpoint.ca_pem.data()), endpoint.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl_, CURLOPT_CAINFO_BLOB, &ca);
    const std::string auth = "Authorization: Bearer " + endpoint.token;
    curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &ApiClient::Write);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    long code = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }

 private:
  static size_t Write(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }
  CURL* curl_;
  std::string body_;
};

class LoadRun {
 public:
  LoadRun() : dir_(absl::GetFlag(FLAGS_work_dir)), ns_(absl::GetFlag(FLAGS_account_namespace)) {}

  int Main() {
    const int n = absl::GetFlag(FLAGS_accounts);
    const absl::Time setup_start = clock_.Now();
    for (int i = 0; i < n; ++i) {
      const std::string account = Account(i);
      RunResult r = Kcred({"provision", account, "--rule", "get,list:pods", "--create-namespace",
                           "--ttl", absl::FormatDuration(absl::GetFlag(FLAGS_ttl)), "--rotate-at",
                           absl::StrCat(absl::GetFlag(FLAGS_rotate_at)), "--grace",
                           absl::FormatDuration(absl::GetFlag(FLAGS_grace))});
      if (r.exit_code != 0) return Fail(absl::StrCat("kcred provision ", account, " failed"));
      r = Kcred({"kubeconfig", account, "--exec", "-o", ExecKubeconfig(i)});
      if (r.exit_code != 0) return Fail(absl::StrCat("kcred kubeconfig --exec ", account));
      const pid_t pid = Spawn({absl::GetFlag(FLAGS_kcred), "--server", absl::GetFlag(FLAGS_server),
                               "watch", account, "-o", WatchFile(i)},
                              absl::StrCat(dir_, "/watch-", i, ".log"));
      if (pid == 0) return Fail("cannot start kcred watch");
      watchers_.push_back(pid);
    }
    for (int i = 0; i < n; ++i) {
      for (int tries = 0; !ReadKubeconfig(WatchFile(i)).has_value(); ++tries) {
        if (tries > 600) return Fail(absl::StrCat("kcred watch never wrote ", WatchFile(i)));
        clock_.SleepFor(absl::Milliseconds(100));
      }
    }
    auto channel =
        grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials());
    stub_ = v1::CredentialBroker::NewStub(channel);
    const std::optional<int64_t> base = SumOfGenerations();
    if (!base.has_value()) return Fail("cannot list the accounts");
    std::cout << "rotation-load: " << n << " accounts ready in "
              << absl::FormatDuration(absl::Trunc(clock_.Now() - setup_start, absl::Seconds(1)))
              << "; running until " << absl::GetFlag(FLAGS_rotations) << " rotations\n"
              << std::flush;

    const absl::Time start = clock_.Now();
    std::vector<std::thread> threads;
    file_ok_.assign(n, 0);
    exec_ok_.assign(n, 0);
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this, i] { FileClient(i); });
      threads.emplace_back([this, i] { ExecClient(i); });
    }
    threads.emplace_back([this, n] { KubectlSampler(n); });
    int64_t rotations = 0;
    bool timed_out = false;
    absl::Time last_report = start;
    while (true) {
      clock_.SleepFor(absl::Milliseconds(500));
      if (std::optional<int64_t> sum = SumOfGenerations(); sum.has_value()) {
        rotations = *sum - *base;
      }
      if (rotations >= absl::GetFlag(FLAGS_rotations)) break;
      if (clock_.Now() - start > absl::GetFlag(FLAGS_timeout)) {
        timed_out = true;
        break;
      }
      if (clock_.Now() - last_report >= absl::Seconds(30)) {
        last_report = clock_.Now();
        std::cout << "  "
                  << absl::FormatDuration(absl::Trunc(last_report - start, absl::Seconds(1)))
                  << ": " << rotations << " rotations, " << Requests() << " requests, "
                  << counts_.unauthorized << " unauthorized\n"
                  << std::flush;
      }
    }
    stop_ = true;
    for (std::thread& t : threads) t.join();
    const absl::Duration took = clock_.Now() - start;
    StopWatchers();

    int without_success = 0;
    for (int i = 0; i < n; ++i) without_success += (file_ok_[i] == 0) + (exec_ok_[i] == 0);
    std::cout << "rotations: " << rotations << " (generations advanced, " << n << " accounts, "
              << absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(100))) << ")\n"
              << "requests: " << Requests() << " (file clients " << counts_.file_requests
              << ", exec-plugin clients " << counts_.exec_requests << ", kubectl "
              << counts_.kubectl_requests << ")\n"
              << "unauthorized (401): " << counts_.unauthorized << "\n"
              << "other errors: " << counts_.other_errors << "\n"
              << "file re-reads: " << counts_.file_reloads
              << ", exec plugin runs: " << counts_.plugin_runs << "\n";
    std::string verdict;
    if (counts_.unauthorized > 0) verdict = "requests were rejected as Unauthorized";
    if (timed_out) verdict = absl::StrCat("timed out after ", absl::FormatDuration(took));
    if (without_success > 0) {
      verdict = absl::StrCat(without_success, " client(s) never had a request succeed");
    }
    if (!verdict.empty()) return Fail(verdict);
    std::cout << "result: PASS\n";
    return 0;
  }

 private:
  std::string Account(int i) const {
    return absl::StrCat(absl::GetFlag(FLAGS_cluster), "/", ns_, "/load-", i);
  }
  std::string WatchFile(int i) const { return absl::StrCat(dir_, "/watch-", i, ".kubeconfig"); }
  std::string ExecKubeconfig(int i) const { return absl::StrCat(dir_, "/exec-", i, ".kubeconfig"); }
  std::string PodsPath() const { return absl::StrCat("/api/v1/namespaces/", ns_, "/pods?limit=1"); }
  std::vector<std::string> CacheEnv() const {
    return {absl::StrCat("KCRED_CACHE_DIR=", dir_, "/cache"),
            absl::StrCat("KCRED_SERVER=", absl::GetFlag(FLAGS_server))};
  }
  int64_t Requests() const {
    return counts_.file_requests + counts_.exec_requests + counts_.kubectl_requests;
  }

  RunResult Kcred(std::vector<std::string> args) const {
    args.insert(args.begin(), absl::GetFlag(FLAGS_kcred));
    return Run(args, CacheEnv(), dir_ + "/kcred.log");
  }

  int Fail(const std::string& why) {
    stop_ = true;
    StopWatchers();
    std::cout << "result: FAIL: " << why << " (logs in " << dir_ << ")\n";
    return 1;
  }

  void StopWatchers() {
    for (pid_t pid : watchers_) kill(pid, SIGTERM);
    for (pid_t pid : watchers_) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    watchers_.clear();
  }

  std::optional<int64_t> SumOfGenerations() {
    int64_t sum = 0;
    std::string page;
    do {
      grpc::ClientContext rpc;
      rpc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::ListAccountsRequest request;
      request.mutable_selector()->set_cluster(absl::GetFlag(FLAGS_cluster));
      request.mutable_selector()->set_namespace_(ns_);
      request.set_page_size(1000);
      request.set_page_token(page);
      v1::ListAccountsResponse response;
      if (!stub_->ListAccounts(&rpc, request, &response).ok()) return std::nullopt;
      for (const v1::Account& a : response.accounts()) sum += a.status().generation();
      page = response.next_page_token();
    } while (!page.empty());
    return sum;
  }

  void Count(long code, std::atomic<int64_t>& requests, const std::string& who) {
    requests++;
    if (code == 401) {
      counts_.unauthorized++;
      absl::MutexLock lock(&log_mu_);
      if (reported_unauthorized_++ >= 50) return;
      std::cout << "  401 Unauthorized: " << who << " at "
                << absl::FormatTime("%H:%M:%E3S", clock_.Now(), absl::LocalTimeZone()) << "\n"
                << std::flush;
    } else if (code < 200 || code >= 300) {
      counts_.other_errors++;
      absl::MutexLock lock(&log_mu_);
      if (reported_errors_++ < 20) std::cout << "  error " << code << ": " << who << "\n";
    }
  }

  // Re-reads the kubeconfig kcred watch keeps current whenever the file changes.
  void FileClient(int i) {
    ApiClient api;
    std::optional<Endpoint> endpoint;
    struct stat seen {};
    const std::string path = WatchFile(i);
    const std::string who = absl::StrCat(Account(i), " (file client)");
    while (!stop_) {
      struct stat st {};
      if (stat(path.c_str(), &st) == 0 &&
          (st.st_ino != seen.st_ino || st.st_mtim.tv_nsec != seen.st_mtim.tv_nsec ||
           st.st_mtim.tv_sec != seen.st_mtim.tv_sec || st.st_size != seen.st_size)) {
        if (std::optional<Endpoint> fresh = ReadKubeconfig(path); fresh.has_value()) {
          endpoint = std::move(fresh);
          seen = st;
          counts_.file_reloads++;
        }
      }
      if (!endpoint.has_value()) {
        clock_.SleepFor(absl::GetFlag(FLAGS_pause));
        continue;
      }
      const long code = api.Get(*endpoint, PodsPath());
      Count(code, counts_.file_requests, who);
      if (code == 200) file_ok_[i] = 1;
      clock_.SleepFor(absl::GetFlag(FLAGS_pause));
    }
  }

  // client-go's exec-credential semantics: run the plugin when there is no credential or it has
  // reached its expirationTimestamp; drop it after a 401.
  void ExecClient(int i) {
    ApiClient api;
    std::optional<Endpoint> base = ReadKubeconfig(ExecKubeconfig(i));
    const std::string who = absl::StrCat(Account(i), " (exec client)");
    if (!base.has_value()) {
      counts_.other_errors++;
      return;
    }
    std::optional<Endpoint> creds;
    absl::Time expiry = absl::InfiniteFuture();
    while (!stop_) {
      if (!creds.has_value() || (expiry != absl::InfiniteFuture() && clock_.Now() > expiry)) {
        counts_.plugin_runs++;
        RunResult r = Run({absl::GetFlag(FLAGS_kcred), "token", Account(i)}, CacheEnv(),
                          dir_ + "/kcred-token.log");
        const nlohmann::json cred = nlohmann::json::parse(r.out, nullptr, false);
        if (r.exit_code != 0 || !cred.is_object() || !cred.contains("status") ||
            !cred["status"].contains("token")) {
          counts_.other_errors++;
          clock_.SleepFor(absl::Milliseconds(200));
          continue;
        }
        creds = *base;
        creds->token = cred["status"]["token"].get<std::string>();
        expiry = absl::InfiniteFuture();
        if (cred["status"].contains("expirationTimestamp")) {
          std::string error;
          if (!absl::ParseTime(absl::RFC3339_full,
                               cred["status"]["expirationTimestamp"].get<std::string>(), &expiry,
                               &error)) {
            counts_.other_errors++;
          }
        }
      }
      const long code = api.Get(*creds, PodsPath());
      Count(code, counts_.exec_requests, who);
      if (code == 200) exec_ok_[i] = 1;
      if (code == 401) creds.reset();
      clock_.SleepFor(absl::GetFlag(FLAGS_pause));
    }
  }

  // Real kubectl with the exec kubeconfig (it runs `kcred token` itself), round-robin.
  void KubectlSampler(int n) {
    for (int k = 0; !stop_; k = (k + 1) % n) {
      RunResult r = Run({absl::GetFlag(FLAGS_kubectl), "--kubeconfig", ExecKubeconfig(k), "get",
                         "pods", "-n", ns_, "--request-timeout=15s"},
                        CacheEnv(), absl::StrCat(dir_, "/kubectl.log"));
      long code = 200;
      if (r.exit_code != 0) {
        const absl::StatusOr<std::string> log = ReadFileToString(dir_ + "/kubectl.log");
        const bool unauthorized =
            log.ok() && log->size() > kubectl_log_seen_ &&
            (absl::StrContains(log->substr(kubectl_log_seen_), "Unauthorized") ||
             absl::StrContains(log->substr(kubectl_log_seen_), "must be logged in"));
        code = unauthorized ? 401 : 0;
      }
      if (const absl::StatusOr<std::string> log = ReadFileToString(dir_ + "/kubectl.log");
          log.ok()) {
        kubectl_log_seen_ = log->size();
      }
      Count(code, counts_.kubectl_requests, absl::StrCat(Account(k), " (kubectl)"));
      clock_.SleepFor(absl::GetFlag(FLAGS_kubectl_every));
    }
  }

  RealClock clock_;
  const std::string dir_;
  const std::string ns_;
  std::unique_ptr<v1::CredentialBroker::Stub> stub_;
  std::vector<pid_t> watchers_;
  std::atomic<bool> stop_{false};
  Counts counts_;
  // Per client: 1 once a request succeeded (each written by its own thread, read after join).
  std::vector<char> file_ok_, exec_ok_;
  size_t kubectl_log_seen_ = 0;
  absl::Mutex log_mu_;
  int reported_errors_ ABSL_GUARDED_BY(log_mu_) = 0;        // the first 20 are printed
  int reported_unauthorized_ ABSL_GUARDED_BY(log_mu_) = 0;  // the first 50 are printed
};

}  // namespace
}  // namespace kcred::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "zero-downtime rotation under load: file and exec-plugin clients per account, counting "
      "401s until the target number of rotations");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_server).empty() || absl::GetFlag(FLAGS_work_dir).empty()) {
    std::cerr << "kcred-rotation-load: --server and --work_dir are required, e.g. --server "
                 "unix:/tmp/x/kcredd.sock --work_dir /tmp/x/load\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_accounts) < 1 || absl::GetFlag(FLAGS_rotations) < 1) {
    std::cerr << "kcred-rotation-load: --accounts and --rotations must be at least 1\n";
    return 2;
  }
  mkdir(absl::GetFlag(FLAGS_work_dir).c_str(), 0700);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int code = kcred::bench::LoadRun().Main();
  curl_global_cleanup();
  return code;
}
