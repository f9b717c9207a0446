#include "daemon/authz/authorizer.h"

#include <utility>

namespace kcred::authz {

Authorizer::Authorizer(Policy policy)
    : policy_(std::make_shared<const Policy>(std::move(policy))) {}

std::shared_ptr<const Policy> Authorizer::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

void Authorizer::Replace(Policy policy) {
  auto next = std::make_shared<const Policy>(std::move(policy));
  absl::MutexLock lock(&mu_);
  policy_.swap(next);
}

}  // namespace kcred::authz
