// Shows how kcredd names its callers: the unix peer of a connection (uid, gid, groups and their
// names, read with SO_PEERCRED and SO_PEERGROUPS) and a verified client certificate (CN, DNS and
// URI SANs, SHA-256 of its DER), and that the registry of unix peers forgets closed connections.
#include "daemon/server/caller.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "common/openssl.h"
#include "common/pki.h"
#include "tests/support/test_pki.h"

namespace kcred::server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::StartsWith;

// The peer of one end of a socketpair is this process: its uid, primary group and groups.
TEST(CallerTest, UnixPeerIsThisProcessWithItsGroups) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  absl::StatusOr<authz::UnixPeer> peer = ReadUnixPeer(fds[0]);
  close(fds[0]);
  close(fds[1]);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->pid, getpid());
  EXPECT_EQ(peer->uid, getuid());
  EXPECT_EQ(peer->gid, getgid());
  EXPECT_THAT(peer->groups, Contains(getgid()));
  if (const group* g = getgrgid(getgid()); g != nullptr) {
    EXPECT_THAT(peer->group_names, Contains(std::string(g->gr_name)));
  }
  if (getuid() == 0) {
    EXPECT_EQ(peer->user, "root");
  }
}

// A descriptor that is not a unix socket has no peer to read.
TEST(CallerTest, NoPeerOnAPipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  absl::StatusOr<authz::UnixPeer> peer = ReadUnixPeer(fds[0]);
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(peer.status().message()), StartsWith("cannot read the peer's"));
}

// A client certificate gives its CN, DNS and URI SANs, and the SHA-256 of its DER encoding.
TEST(CallerTest, ClientCertificateNames) {
  auto ca = testing::TestCa("test CA");
  ASSERT_TRUE(ca.ok());
  auto cert = testing::TestClientCert(
      *ca, {"client", "builder", {"builder.corp", "ci.corp"}, {"spiffe://corp/ci"}});
  ASSERT_TRUE(cert.ok());
  absl::StatusOr<authz::Certificate> parsed = ParseClientCertificate(cert->cert_pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->common_name, "builder");
  EXPECT_THAT(parsed->dns_names, ElementsAre("builder.corp", "ci.corp"));
  EXPECT_THAT(parsed->uris, ElementsAre("spiffe://corp/ci"));
  // The digest as OpenSSL computes it over the DER.
  BioPtr bio(BIO_new_mem_buf(cert->cert_pem.data(), static_cast<int>(cert->cert_pem.size())));
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  ASSERT_EQ(X509_digest(x509.get(), EVP_sha256(), digest, &length), 1);
  EXPECT_EQ(parsed->sha256, "sha256:" + absl::BytesToHexString(absl::string_view(
                                            reinterpret_cast<const char*>(digest), length)));
  EXPECT_EQ(ParseClientCertificate("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The registry answers for the connection recorded under a descriptor until it is forgotten, and a
// reused descriptor number gets the new peer.
TEST(CallerTest, PeerRegistryFollowsDescriptors) {
  PeerRegistry peers;
  authz::UnixPeer alice;
  alice.uid = 1000;
  authz::UnixPeer bob;
  bob.uid = 1001;
  EXPECT_FALSE(peers.Lookup(7).has_value());
  peers.Record(7, alice);
  EXPECT_EQ(peers.Lookup(7)->uid, 1000u);
  peers.Record(7, bob);
  EXPECT_EQ(peers.Lookup(7)->uid, 1001u);
  peers.Forget(7);
  EXPECT_FALSE(peers.Lookup(7).has_value());
}

}  // namespace
}  // namespace kcred::server
