#include "daemon/server/caller.h"

#include <pwd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kcred::server {

void PeerRegistry::Record(int fd, PeerCredentials creds) {
  absl::MutexLock lock(&mu_);
  peers_[fd] = creds;
}

void PeerRegistry::Forget(int fd) {
  absl::MutexLock lock(&mu_);
  peers_.erase(fd);
}

std::optional<PeerCredentials> PeerRegistry::Lookup(int fd) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::string CallerIdentity(const grpc::ServerContext& context, const PeerRegistry& peers) {
  const std::string peer = context.peer();
  int fd = -1;
  if (absl::StartsWith(peer, "fd:") && absl::SimpleAtoi(peer.substr(3), &fd)) {
    if (auto creds = peers.Lookup(fd)) {
      std::string id = absl::StrCat("unix:uid:", creds->uid);
      struct passwd pw {};
      struct passwd* result = nullptr;
      char buf[4096];
      if (getpwuid_r(creds->uid, &pw, buf, sizeof buf, &result) == 0 && result != nullptr) {
        absl::StrAppend(&id, ",user:", result->pw_name);
      }
      return id;
    }
  }
  auto auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const auto& cn : auth->FindPropertyValues("x509_common_name")) {
      return absl::StrCat("x509:CN=", std::string(cn.data(), cn.size()));
    }
  }
  return "anonymous";
}

}  // namespace kcred::server
