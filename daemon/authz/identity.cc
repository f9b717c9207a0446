#include "daemon/authz/identity.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kcred::authz {

Identity Identity::Unix(UnixPeer peer) {
  Identity identity;
  identity.transport_ = Transport::kUnix;
  identity.unix_peer_ = std::move(peer);
  identity.ComputeSubjects();
  return identity;
}

Identity Identity::Tls(std::string address, std::optional<Certificate> certificate) {
  Identity identity;
  identity.transport_ = Transport::kTls;
  identity.address_ = std::move(address);
  identity.certificate_ = std::move(certificate);
  identity.ComputeSubjects();
  return identity;
}

Identity Identity::PlainTcp(std::string address) {
  Identity identity;
  identity.transport_ = Transport::kTcp;
  identity.address_ = std::move(address);
  identity.ComputeSubjects();
  return identity;
}

void Identity::ComputeSubjects() {
  std::vector<std::string>& subjects = subjects_;
  if (unix_peer_) {
    subjects.push_back(absl::StrCat("unix:uid:", unix_peer_->uid));
    if (!unix_peer_->user.empty()) subjects.push_back(absl::StrCat("unix:user:", unix_peer_->user));
    for (uint32_t gid : unix_peer_->groups) subjects.push_back(absl::StrCat("unix:gid:", gid));
    for (const std::string& group : unix_peer_->group_names) {
      subjects.push_back(absl::StrCat("unix:group:", group));
    }
  }
  if (certificate_) {
    if (!certificate_->common_name.empty()) {
      subjects.push_back(absl::StrCat("x509:cn:", certificate_->common_name));
    }
    for (const std::string& dns : certificate_->dns_names) {
      subjects.push_back(absl::StrCat("x509:dns:", dns));
    }
    for (const std::string& uri : certificate_->uris) {
      subjects.push_back(absl::StrCat("x509:uri:", uri));
    }
  }
  if (subjects.empty()) subjects.push_back("anonymous");
}

std::string Identity::Display() const {
  if (unix_peer_) {
    std::string display = absl::StrCat("unix:uid:", unix_peer_->uid);
    if (!unix_peer_->user.empty()) absl::StrAppend(&display, "(", unix_peer_->user, ")");
    return display;
  }
  if (certificate_) {
    if (!certificate_->common_name.empty()) {
      return absl::StrCat("x509:cn:", certificate_->common_name);
    }
    if (!certificate_->uris.empty()) return absl::StrCat("x509:uri:", certificate_->uris.front());
    if (!certificate_->dns_names.empty()) {
      return absl::StrCat("x509:dns:", certificate_->dns_names.front());
    }
    return absl::StrCat("x509:", certificate_->sha256);
  }
  return "anonymous";
}

std::string Identity::LimitKey() const {
  if (unix_peer_) return absl::StrCat("unix:uid:", unix_peer_->uid);
  if (certificate_) return absl::StrCat("x509:", certificate_->sha256);
  return "anonymous";
}

const char* Identity::TransportName() const {
  switch (transport_) {
    case Transport::kUnix:
      return "unix";
    case Transport::kTls:
      return "tls";
    case Transport::kTcp:
      return "tcp";
  }
  return "unix";
}

std::string Identity::Peer() const {
  if (unix_peer_) return absl::StrCat("pid ", unix_peer_->pid);
  return address_;
}

}  // namespace kcred::authz
