// kcred-devcluster-bench: throughput of kcred-devcluster over kept-alive TLS connections. Starts
// the dev cluster in-process (so client and server share the machine's cores, as in kcred's own
// benchmarks) and runs a pool of keep-alive HTTPS clients for a bounded time.
//
// --mode=get: authenticated GETs of one object (a ServiceAccount with read access, or the admin).
// --mode=write: the admin creates, updates and deletes Secrets in a loop, with `--objects` Secrets
//   already present, against a persistent data directory (--data-dir, or a temporary one), which
//   measures what persisting the objects costs each write.

#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
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
#include "common/files.h"
#include "common/logging.h"
#include "devcluster/dev_cluster.h"

ABSL_FLAG(int, connections, 4, "concurrent keep-alive TLS connections (one client thread each)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to send requests");
ABSL_FLAG(std::string, identity, "serviceaccount",
          "who sends the GETs: serviceaccount (bound token, RBAC via a RoleBinding) or admin");
ABSL_FLAG(std::string, path, "/api/v1/namespaces/bench/configmaps/settings",
          "the object every request reads");
ABSL_FLAG(std::string, mode, "get",
          "get: GETs of --path; write: create, update and delete Secrets with persistence on");
ABSL_FLAG(int, objects, 1500, "write mode: Secrets present before the writes start");
ABSL_FLAG(std::string, data_dir, "",
          "write mode: the data directory (must not hold state yet); empty: a temporary one, "
          "removed afterwards");

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
  // As libcurl does by default: without it, Nagle's algorithm and delayed ACKs add ~40 ms to
  // every request whose headers and body go out in separate writes.
  client->set_tcp_nodelay(true);
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

// A Secret as the store keeps it, for a state file written before the server starts.
nlohmann::json StoredSecret(const std::string& name, int64_t resource_version) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata",
           {{"name", name},
            {"namespace", "bench"},
            {"uid", absl::StrCat("00000000-0000-4000-8000-", 100000000000 + resource_version)},
            {"resourceVersion", absl::StrCat(resource_version)},
            {"creationTimestamp", "2026-01-01T00:00:00Z"},
            {"labels", {{"app", "kcred-bench"}}}}},
          {"data", {{"token", "YmVuY2gtdG9rZW4tdmFsdWUtdGhhdC1pcy1ub3QtYS1zZWNyZXQ="}}}};
}

// Write mode: seeds `<data_dir>/state.json` with --objects Secrets in namespace "bench", starts the
// cluster on it and has each connection create, update (PUT) and delete its own Secrets.
int RunWrites() {
  std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  bool remove_data_dir = false;
  if (data_dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/kcred-devcluster-bench-XXXXXX");
    if (mkdtemp(templ.data()) == nullptr) {
      std::fprintf(stderr, "creating a temporary data directory from %s failed\n", templ.c_str());
      return 1;
    }
    data_dir = templ;
    remove_data_dir = true;
  }
  const int objects = std::max(0, absl::GetFlag(FLAGS_objects));
  nlohmann::json secrets = nlohmann::json::array();
  for (int i = 0; i < objects; ++i)
    secrets.push_back(StoredSecret(absl::StrCat("seed-", i), 2 + i));
  nlohmann::json state = {{"resourceVersion", 2 + objects},
                          {"objects",
                           {{"namespaces",
                             {{{"apiVersion", "v1"},
                               {"kind", "Namespace"},
                               {"metadata",
                                {{"name", "bench"},
                                 {"uid", "00000000-0000-4000-8000-000000000001"},
                                 {"resourceVersion", "1"},
                                 {"creationTimestamp", "2026-01-01T00:00:00Z"}}}}}},
                            {"secrets", std::move(secrets)}}}};
  if (absl::Status s = kcred::WriteFileAtomic(data_dir + "/state.json", state.dump(), 0600);
      !s.ok()) {
    std::fprintf(stderr, "seeding the state: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  kcred::devcluster::DevClusterOptions options;
  options.data_dir = data_dir;
  auto cluster = kcred::devcluster::DevCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "starting the dev cluster: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 1;
  }
  const std::string address = (*cluster)->address();
  const std::string ca_file = data_dir + "/ca.crt";
  const std::string token = (*cluster)->admin_token().Reveal();
  const int connections = std::max(1, absl::GetFlag(FLAGS_connections));
  const std::string secrets_path = "/api/v1/namespaces/bench/secrets";
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_duration);
  Totals totals;
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  for (int w = 0; w < connections; ++w) {
    workers.emplace_back([&, w] {
      auto client = Client(address, ca_file);
      httplib::Headers headers = {{"Authorization", "Bearer " + token}};
      auto count = [&totals](const httplib::Result& res, int want) {
        if (res && res->status == want) {
          totals.ok.fetch_add(1, std::memory_order_relaxed);
          return true;
        }
        totals.failed.fetch_add(1, std::memory_order_relaxed);
        return false;
      };
      for (int i = 0; absl::Now() < deadline; ++i) {
        const std::string name = absl::StrCat("w", w, "-", i);
        nlohmann::json secret = {{"metadata", {{"name", name}}},
                                 {"type", "Opaque"},
                                 {"stringData", {{"token", absl::StrCat("value-", i)}}}};
        auto created =
            client->Post(secrets_path.c_str(), headers, secret.dump(), "application/json");
        if (!count(created, 201)) continue;
        nlohmann::json updated = nlohmann::json::parse(created->body);
        updated["metadata"]["labels"] = {{"rotated", "yes"}};
        count(client->Put((secrets_path + "/" + name).c_str(), headers, updated.dump(),
                          "application/json"),
              200);
        count(client->Delete((secrets_path + "/" + name).c_str(), headers), 200);
      }
    });
  }
  for (std::thread& t : workers) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const absl::Time stop_start = absl::Now();
  (*cluster)->Stop();
  const double stop_ms = absl::ToDoubleMilliseconds(absl::Now() - stop_start);
  std::printf(
      "kcred-devcluster writes (create/update/delete Secrets, %d present, persisted in %s): %d "
      "keep-alive TLS connections, %.1f s: %lld ok, %lld failed, %.0f writes/s; Stop() took %.0f "
      "ms\n",
      objects, data_dir.c_str(), connections, seconds, static_cast<long long>(totals.ok.load()),
      static_cast<long long>(totals.failed.load()), totals.ok.load() / seconds, stop_ms);
  // Every worker deleted what it created: after the stop, state.json holds the seeded Secrets.
  absl::StatusOr<std::string> saved = kcred::ReadFileToString(data_dir + "/state.json");
  const nlohmann::json saved_state =
      saved.ok() ? nlohmann::json::parse(*saved, nullptr, false) : nlohmann::json();
  size_t saved_secrets = 0;
  if (saved_state.is_object() && saved_state.contains("objects") &&
      saved_state["objects"].contains("secrets")) {
    saved_secrets = saved_state["objects"]["secrets"].size();
  }
  if (saved_secrets != static_cast<size_t>(objects)) {
    std::fprintf(stderr, "state.json after the stop holds %zu Secrets, expected %d\n",
                 saved_secrets, objects);
    totals.failed.fetch_add(1);
  }
  if (remove_data_dir) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
  }
  return totals.failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  kcred::SetupLogging({spdlog::level::warn, kcred::LogFormat::kText});
  if (absl::GetFlag(FLAGS_mode) == "write") return RunWrites();
  if (absl::GetFlag(FLAGS_mode) != "get") {
    std::fprintf(stderr, "--mode must be get or write\n");
    return 2;
  }
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
