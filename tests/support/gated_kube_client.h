#pragma once
// A KubeClient over a FakeKubeClient whose CreateToken or List calls can be held until the test
// lets them go, to have an operation in flight at a chosen point.

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/kube/fake_kube_client.h"
#include "daemon/kube/kube_client.h"

namespace kcred::testing {

class GatedKubeClient : public kube::KubeClient {
 public:
  explicit GatedKubeClient(Clock& clock) : fake_(clock) {}

  kube::FakeKubeClient& fake() { return fake_; }
  // From now on, CreateToken (List) calls wait until Release.
  void HoldCreateToken() { Hold(Call::kCreateToken); }
  void HoldList() { Hold(Call::kList); }
  // Returns once a call is being held.
  void WaitUntilHeld() { absl::MutexLock lock(&mu_, absl::Condition(&held_)); }
  // Lets held and later calls through.
  void Release() { Hold(Call::kNone); }

  absl::StatusOr<nlohmann::json> Get(kube::Resource resource, const std::string& ns,
                                     const std::string& name, absl::Time deadline) override {
    return fake_.Get(resource, ns, name, deadline);
  }
  absl::StatusOr<std::vector<nlohmann::json>> List(kube::Resource resource, const std::string& ns,
                                                   const std::string& selector,
                                                   absl::Time deadline) override {
    Pass(Call::kList);
    return fake_.List(resource, ns, selector, deadline);
  }
  absl::StatusOr<nlohmann::json> Create(kube::Resource resource, const nlohmann::json& object,
                                        absl::Time deadline) override {
    return fake_.Create(resource, object, deadline);
  }
  absl::StatusOr<nlohmann::json> Update(kube::Resource resource, const nlohmann::json& object,
                                        absl::Time deadline) override {
    return fake_.Update(resource, object, deadline);
  }
  absl::Status Delete(kube::Resource resource, const std::string& ns, const std::string& name,
                      const kube::DeletePreconditions& preconditions,
                      absl::Time deadline) override {
    return fake_.Delete(resource, ns, name, preconditions, deadline);
  }
  void Cancel() override { fake_.Cancel(); }
  absl::StatusOr<kube::IssuedToken> CreateToken(const std::string& ns,
                                                const std::string& service_account,
                                                const kube::TokenRequestSpec& spec,
                                                absl::Time deadline) override {
    Pass(Call::kCreateToken);
    return fake_.CreateToken(ns, service_account, spec, deadline);
  }
  absl::StatusOr<kube::TokenReviewResult> ReviewToken(const SecretString& token,
                                                      const std::vector<std::string>& audiences,
                                                      absl::Time deadline) override {
    return fake_.ReviewToken(token, audiences, deadline);
  }
  absl::StatusOr<kube::ServerVersion> GetServerVersion(absl::Time deadline) override {
    return fake_.GetServerVersion(deadline);
  }

 private:
  enum class Call { kNone, kCreateToken, kList };

  void Hold(Call call) {
    absl::MutexLock lock(&mu_);
    hold_ = call;
  }
  // Waits while calls like `call` are held.
  void Pass(Call call) {
    absl::MutexLock lock(&mu_);
    if (hold_ != call) return;
    held_ = true;
    auto released = [this, call]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return hold_ != call; };
    mu_.Await(absl::Condition(&released));
    held_ = false;
  }

  kube::FakeKubeClient fake_;
  absl::Mutex mu_;
  Call hold_ ABSL_GUARDED_BY(mu_) = Call::kNone;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kcred::testing
