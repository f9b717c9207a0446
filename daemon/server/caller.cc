#include "daemon/server/caller.h"

#include <grp.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/openssl.h"

namespace kcred::server {
namespace {

std::string UserName(uid_t uid) {
  struct passwd pw {};
  struct passwd* result = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &result) == 0 && result != nullptr) {
    return result->pw_name;
  }
  return "";
}

std::string GroupName(gid_t gid) {
  struct group gr {};
  struct group* result = nullptr;
  std::vector<char> buf(16384);
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    return result->gr_name;
  }
  return "";
}

// The groups the peer had when it connected (Linux >= 4.13). Empty when the kernel cannot say.
std::vector<gid_t> PeerGroups(int fd) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 3; ++attempt) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) return {};
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

// Text of one GENERAL_NAME of type `type` (DNS or URI), or "".
std::string GeneralNameText(const GENERAL_NAME* name, int type) {
  if (name == nullptr || name->type != type) return "";
  const ASN1_IA5STRING* text =
      type == GEN_DNS ? name->d.dNSName : name->d.uniformResourceIdentifier;
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<size_t>(ASN1_STRING_length(text)));
}

}  // namespace

void PeerRegistry::Record(int fd, authz::UnixPeer peer) {
  absl::MutexLock lock(&mu_);
  peers_[fd] = std::move(peer);
}

void PeerRegistry::Forget(int fd) {
  absl::MutexLock lock(&mu_);
  peers_.erase(fd);
}

std::optional<authz::UnixPeer> PeerRegistry::Lookup(int fd) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<authz::UnixPeer> ReadUnixPeer(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the peer's credentials (SO_PEERCRED): ", std::strerror(errno)));
  }
  authz::UnixPeer peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.user = UserName(cred.uid);
  std::vector<gid_t> groups = PeerGroups(fd);
  if (std::find(groups.begin(), groups.end(), cred.gid) == groups.end()) {
    groups.insert(groups.begin(), cred.gid);
  }
  for (gid_t gid : groups) {
    peer.groups.push_back(gid);
    if (std::string name = GroupName(gid); !name.empty()) peer.group_names.push_back(name);
  }
  return peer;
}

absl::StatusOr<authz::Certificate> ParseClientCertificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return absl::InvalidArgumentError("the client certificate does not parse");
  authz::Certificate out;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, cn);
    if (n >= 0) out.common_name.assign(reinterpret_cast<const char*>(utf8), n);
    OPENSSL_free(utf8);
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (std::string dns = GeneralNameText(name, GEN_DNS); !dns.empty()) {
      out.dns_names.push_back(std::move(dns));
    }
    if (std::string uri = GeneralNameText(name, GEN_URI); !uri.empty()) {
      out.uris.push_back(std::move(uri));
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_len) != 1) {
    return absl::InternalError("cannot hash the client certificate");
  }
  out.sha256 = absl::StrCat("sha256:", absl::BytesToHexString(absl::string_view(
                                           reinterpret_cast<char*>(digest), digest_len)));
  return out;
}

authz::Identity IdentifyCaller(const grpc::ServerContextBase& context, const PeerRegistry& peers) {
  const std::string peer = context.peer();
  int fd = -1;
  if (absl::StartsWith(peer, "fd:") && absl::SimpleAtoi(peer.substr(3), &fd)) {
    if (std::optional<authz::UnixPeer> unix_peer = peers.Lookup(fd)) {
      return authz::Identity::Unix(*std::move(unix_peer));
    }
  }
  auto auth = context.auth_context();
  const bool tls = auth != nullptr && [&] {
    for (const auto& type : auth->FindPropertyValues("transport_security_type")) {
      // "ssl" with SslServerCredentials, "tls" with the TlsServerCredentials kcredd uses.
      const std::string name(type.data(), type.size());
      if (name == "ssl" || name == "tls") return true;
    }
    return false;
  }();
  if (!tls) return authz::Identity::PlainTcp(peer);
  std::optional<authz::Certificate> certificate;
  if (auth->IsPeerAuthenticated()) {
    for (const auto& pem : auth->FindPropertyValues("x509_pem_cert")) {
      absl::StatusOr<authz::Certificate> parsed =
          ParseClientCertificate(std::string(pem.data(), pem.size()));
      if (parsed.ok()) certificate = *std::move(parsed);
      break;
    }
  }
  return authz::Identity::Tls(peer, std::move(certificate));
}

}  // namespace kcred::server
