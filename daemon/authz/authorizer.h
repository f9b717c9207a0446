#pragma once
// The policy kcredd decides calls with now. A reload replaces it as a whole; a call takes one
// snapshot at its start and decides everything with it, so a call never sees half a policy.

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/authz/policy.h"

namespace kcred::authz {

class Authorizer {
 public:
  explicit Authorizer(Policy policy);

  // The current policy; it stays valid for as long as the caller holds it. Thread-safe.
  std::shared_ptr<const Policy> policy() const;
  // Decides later calls with `policy`. Thread-safe.
  void Replace(Policy policy);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kcred::authz
