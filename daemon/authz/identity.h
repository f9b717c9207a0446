#pragma once
// Who is calling, as kcredd's authorization policy sees it: the unix peer of the socket
// (SO_PEERCRED: pid, uid, groups) or the verified client certificate of a TLS connection (its CN,
// DNS and URI names, its SHA-256), and the transport it came through. Filled in by the gRPC layer
// (daemon/server/caller.h); nothing here depends on gRPC.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kcred::authz {

enum class Transport {
  kUnix,  // kcredd's unix socket; identified by SO_PEERCRED
  kTls,   // TCP with TLS; identified by a verified client certificate, when there is one
  kTcp,   // plaintext TCP (kcredd --insecure): nobody is identified
};

// The unix peer as recorded when its connection was accepted.
struct UnixPeer {
  int64_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;                      // primary group
  std::string user;                      // the uid's name; empty when it has none
  std::vector<uint32_t> groups;          // primary and supplementary groups
  std::vector<std::string> group_names;  // the names of those that have one
};

// A client certificate that the TLS handshake verified against the configured client CA.
struct Certificate {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
  std::string sha256;  // "sha256:" + 64 hex digits of the DER encoding
};

class Identity {
 public:
  // The peer of kcredd's unix socket.
  static Identity Unix(UnixPeer peer);
  // A TCP caller with TLS; `certificate` when it presented one that was verified.
  static Identity Tls(std::string address, std::optional<Certificate> certificate);
  // A plaintext TCP caller (kcredd --insecure).
  static Identity PlainTcp(std::string address);

  Transport transport() const { return transport_; }
  const std::optional<UnixPeer>& unix_peer() const { return unix_peer_; }
  const std::string& address() const { return address_; }  // TCP: the remote address
  const std::optional<Certificate>& certificate() const { return certificate_; }

  // Every subject a rule may name that matches this caller: unix:uid:N, unix:user:NAME,
  // unix:gid:N and unix:group:NAME for every group, x509:cn:CN, x509:dns:NAME, x509:uri:URI, or
  // "anonymous" when nothing identifies the caller.
  const std::vector<std::string>& subjects() const { return subjects_; }

  // A short form for messages: "unix:uid:1000(alice)", "x509:cn:builder", "anonymous".
  std::string Display() const;

  // What per-caller limits count by: the uid, the certificate, or "anonymous" (all anonymous
  // callers share their limits).
  std::string LimitKey() const;

  // "unix", "tls" or "tcp".
  const char* TransportName() const;

  // The peer as the audit log records it: "pid 4242" or the remote address.
  std::string Peer() const;

 private:
  Identity() = default;
  void ComputeSubjects();

  Transport transport_ = Transport::kUnix;
  std::optional<UnixPeer> unix_peer_;
  std::string address_;
  std::optional<Certificate> certificate_;
  std::vector<std::string> subjects_;
};

}  // namespace kcred::authz
