// kcred-devcluster: a Kubernetes-API-compatible HTTPS server for trying and testing kcred.
// Wiring only: flags -> DevClusterOptions, signals -> Stop().

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/logging.h"
#include "devcluster/dev_cluster.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve HTTPS on; port 0 picks a free port ([::1]:0 for IPv6)");
ABSL_FLAG(std::string, data_dir, "",
          "directory for keys, certificates, the admin token, admin.kubeconfig, ca.crt, address "
          "and objects (kept across restarts); empty: a temporary directory removed at exit");
ABSL_FLAG(std::string, issuer, "https://kubernetes.default.svc.cluster.local",
          "service account token issuer (iss) and default audience");
ABSL_FLAG(absl::Duration, max_token_expiration, absl::ZeroDuration(),
          "cap on TokenRequest lifetimes, like --service-account-max-token-expiration; 0: none");
ABSL_FLAG(absl::Duration, min_token_expiration, absl::Seconds(600),
          "shortest TokenRequest lifetime accepted (Kubernetes: 10m); lower it for rotation tests");
ABSL_FLAG(double, fault_error_rate, 0,
          "share of matching requests answered with --fault_error_code");
ABSL_FLAG(int, fault_error_code, 503, "HTTP status of injected errors: 500, 503 or 429");
ABSL_FLAG(int, fault_retry_after, 1, "Retry-After seconds on injected 429 and 503 answers");
ABSL_FLAG(absl::Duration, fault_latency, absl::ZeroDuration(),
          "latency added to matching requests");
ABSL_FLAG(double, fault_drop_rate, 0, "share of matching requests whose connection is dropped");
ABSL_FLAG(std::string, fault_paths, "",
          "comma-separated URL path prefixes faults apply to; empty: all");
ABSL_FLAG(std::string, fault_verbs, "",
          "comma-separated Kubernetes verbs faults apply to (get,list,create,...); empty: all");
ABSL_FLAG(int, threads, 64, "worker threads (each kept-alive connection or watch holds one)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, "auto", "auto, text, json or journal");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A Kubernetes-API-compatible HTTPS dev server for kcred.\n\n"
      "Usage: kcred-devcluster [--listen=127.0.0.1:6443] [--data-dir=DIR] [flags]\n\n"
      "Writes ca.crt and admin.kubeconfig into the data directory, then the bound address into "
      "<data-dir>/address once it accepts connections. Try:\n"
      "  kubectl --kubeconfig DIR/admin.kubeconfig get namespaces\n"
      "Runtime fault injection (admin only): PUT /kcred-dev/faults with "
      "{\"errorRate\":0.2,\"errorCode\":503,\"latencyMs\":50,\"dropRate\":0,"
      "\"pathPrefixes\":[],\"verbs\":[]}; DELETE clears.");
  absl::FlagsUsageConfig usage;
  // --help lists this program's flags (they are all defined in this file).
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "devcluster/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return std::string("kcred-devcluster " KCRED_VERSION "\n"); };
  absl::SetFlagsUsageConfig(usage);
  // Accept --data-dir as well as --data_dir (and so on), as users type dashes.
  kcred::ParseNormalized(kcred::NormalizeFlagDashes(argc, argv),
                         [](int n, char** v) { return absl::ParseCommandLine(n, v); });

  absl::StatusOr<spdlog::level::level_enum> level =
      kcred::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  absl::StatusOr<kcred::LogFormat> format = kcred::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!level.ok() || !format.ok()) {
    std::fprintf(stderr, "kcred-devcluster: %s\n",
                 std::string((level.ok() ? format.status() : level.status()).message()).c_str());
    return 2;
  }
  kcred::SetupLogging({*level, *format});
  std::shared_ptr<spdlog::logger> logger = kcred::Logger("devcluster");

  kcred::devcluster::DevClusterOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.issuer = absl::GetFlag(FLAGS_issuer);
  options.max_token_expiration = absl::GetFlag(FLAGS_max_token_expiration);
  options.min_token_expiration = absl::GetFlag(FLAGS_min_token_expiration);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.faults.error_rate = absl::GetFlag(FLAGS_fault_error_rate);
  options.faults.error_code = absl::GetFlag(FLAGS_fault_error_code);
  options.faults.retry_after_seconds = absl::GetFlag(FLAGS_fault_retry_after);
  options.faults.latency = absl::GetFlag(FLAGS_fault_latency);
  options.faults.drop_rate = absl::GetFlag(FLAGS_fault_drop_rate);
  options.faults.path_prefixes =
      absl::StrSplit(absl::GetFlag(FLAGS_fault_paths), ',', absl::SkipEmpty());
  options.faults.verbs = absl::StrSplit(absl::GetFlag(FLAGS_fault_verbs), ',', absl::SkipEmpty());

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto cluster = kcred::devcluster::DevCluster::Start(options);
  if (!cluster.ok()) {
    logger->error("{}", cluster.status().message());
    return 1;
  }
  std::printf("kcred-devcluster listening on %s\nkubeconfig: %s\n",
              (*cluster)->server_url().c_str(), (*cluster)->admin_kubeconfig_path().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  logger->info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*cluster)->Stop();
  return 0;
}
