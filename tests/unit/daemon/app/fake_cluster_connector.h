#pragma once
// A ClusterConnector for tests: each Connect hands out a new FakeKubeClient (namespace "automation"
// seeded), counts the connections per cluster, can be told to fail, and reports when the last
// reference to a client it made goes away.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/app/cluster_connector.h"
#include "daemon/kube/fake_kube_client.h"

namespace kcred::app::testing {

class FakeClusterConnector final : public ClusterConnector {
 public:
  // `clock` must outlive the connector and its clients.
  explicit FakeClusterConnector(Clock& clock) : clock_(clock) {}

  absl::StatusOr<std::shared_ptr<kube::KubeClient>> Connect(
      const config::ClusterConfig& cluster) override {
    absl::MutexLock lock(&mu_);
    if (auto failure = failures_.find(cluster.name); failure != failures_.end()) {
      return failure->second;
    }
    ++connects_[cluster.name];
    auto* client = new kube::FakeKubeClient(clock_);
    (void)client->Seed(kube::Resource::kNamespace, {{"metadata", {{"name", "automation"}}}});
    return std::shared_ptr<kube::KubeClient>(client, [this, name = cluster.name](auto* c) {
      delete c;
      std::function<void(const std::string&)> hook;
      {
        absl::MutexLock lock(&mu_);
        ++releases_[name];
        hook = on_release_;
      }
      if (hook) hook(name);
    });
  }

  // Connect fails for `cluster` with `status` from now on (OK: it connects again).
  void FailFor(const std::string& cluster, absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      failures_.erase(cluster);
    } else {
      failures_[cluster] = std::move(status);
    }
  }

  // Called with the cluster's name whenever a client made here is released (on that thread).
  void OnRelease(std::function<void(const std::string&)> hook) {
    absl::MutexLock lock(&mu_);
    on_release_ = std::move(hook);
  }

  // How many clients were made for `cluster`, and how many of them were released.
  int connects(const std::string& cluster) const {
    absl::MutexLock lock(&mu_);
    auto it = connects_.find(cluster);
    return it == connects_.end() ? 0 : it->second;
  }
  int releases(const std::string& cluster) const {
    absl::MutexLock lock(&mu_);
    auto it = releases_.find(cluster);
    return it == releases_.end() ? 0 : it->second;
  }

 private:
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> connects_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> releases_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_release_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::app::testing
