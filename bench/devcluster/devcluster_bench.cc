// kcred-devcluster-bench: throughput of authenticated GETs against kcred-devcluster over kept-alive
// TLS connections. Starts the dev cluster in-process (so client and server share the machine's
// cores, as in kcred's own benchmarks), provisions a ServiceAccount with read access, and runs a
// pool of keep-alive HTTPS clients for a bounded time.

#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "devcluster/dev_cluster.h"

ABSL_FLAG(int, connections, 4, "concurrent keep-alive TLS connections (one client thread each)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to send requests");
ABSL_FLAG(std::string, identity, "serviceaccount",
          "who sends the GETs: serviceaccount (bound token, RBAC via a RoleBinding) or admin");
ABSL_FLAG(std::string, path, "/api/v1/namespaces/bench/configmaps/settings",
          "the object every request reads");

namespace {

struct Totals {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
};

std::unique_ptr<httplib::SSLClient> Client(const std::string& address, const std::string& ca_file) {
  std::vector<std::string> parts = absl::StrSplit(address, ':');
  auto client = std::make_unique<httplib::SSLClient>(parts[0], std::stoi(parts[1]));
  client->set_ca_cert_path(ca_file.c_str());
  client->enable_server_certificate_verification(true);
  client->set_keep_alive(true);
  return client;
}

bool Post(httplib::SSLClient& client, const httplib::Headers& headers, const std::string& path,
          const nlohmann::json& body) {
  auto res = client.Post(path.c_str(), headers, body.dump(), "application/json");
  if (!res || res->status != 201) {
    std::fprintf(stderr, "setup: POST %s failed: %s\n", path.c_str(),
                 res ? res->body.c_str() : httplib::to_string(res.error()).c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  kcred::SetupLogging({spdlog::level::warn, kcred::LogFormat::kText});
  kcred::devcluster::DevClusterOptions options;
  auto cluster = kcred::devcluster::DevCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "starting the dev cluster: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 1;
  }
  const std::string address = (*cluster)->address();
  const std::string ca_file = (*cluster)->data_dir() + "/ca.crt";

  // Setup as admin: namespace, object to read, ServiceAccount, Role, RoleBinding, token.
  auto admin = Client(address, ca_file);
  httplib::Headers admin_headers = {
      {"Authorization", "Bearer " + (*cluster)->admin_token().Reveal()}};
  const std::string ns = "/api/v1/namespaces/bench";
  const std::string rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/bench";
  bool ok =
      Post(*admin, admin_headers, "/api/v1/namespaces", {{"metadata", {{"name", "bench"}}}}) &&
      Post(*admin, admin_headers, ns + "/configmaps",
           {{"metadata", {{"name", "settings"}}}, {"data", {{"k", "v"}}}}) &&
      Post(*admin, admin_headers, ns + "/serviceaccounts", {{"metadata", {{"name", "reader"}}}}) &&
      Post(*admin, admin_headers, rbac + "/roles",
           {{"metadata", {{"name", "reader"}}},
            {"rules",
             {{{"apiGroups", {""}}, {"resources", {"configmaps"}}, {"verbs", {"get"}}}}}}) &&
      Post(*admin, admin_headers, rbac + "/rolebindings",
           {{"metadata", {{"name", "reader"}}},
            {"roleRef",
             {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "reader"}}},
            {"subjects",
             {{{"kind", "ServiceAccount"}, {"name", "reader"}, {"namespace", "bench"}}}}});
  if (!ok) return 1;
  std::string token = (*cluster)->admin_token().Reveal();
  if (absl::GetFlag(FLAGS_identity) == "serviceaccount") {
    auto res = admin->Post((ns + "/serviceaccounts/reader/token").c_str(), admin_headers, "{}",
                           "application/json");
    if (!res || res->status != 201) {
      std::fprintf(stderr, "setup: TokenRequest failed\n");
      return 1;
    }
    token = nlohmann::json::parse(res->body)["status"]["token"];
  }

  const int connections = std::max(1, absl::GetFlag(FLAGS_connections));
  const std::string path = absl::GetFlag(FLAGS_path);
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_duration);
  Totals totals;
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  for (int i = 0; i < connections; ++i) {
    workers.emplace_back([&] {
      auto client = Client(address, ca_file);
      httplib::Headers headers = {{"Authorization", "Bearer " + token}};
      while (absl::Now() < deadline) {
        auto res = client->Get(path.c_str(), headers);
        if (res && res->status == 200) {
          totals.ok.fetch_add(1, std::memory_order_relaxed);
        } else {
          totals.failed.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf(
      "kcred-devcluster GET %s as %s: %d keep-alive TLS connections, %.1f s: %lld ok, %lld "
      "failed, %.0f requests/s\n",
      path.c_str(), absl::GetFlag(FLAGS_identity).c_str(), connections, seconds,
      static_cast<long long>(totals.ok.load()), static_cast<long long>(totals.failed.load()),
      totals.ok.load() / seconds);
  (*cluster)->Stop();
  return totals.failed.load() == 0 ? 0 : 1;
}
