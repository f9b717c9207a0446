#include "devcluster/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/openssl.h"

namespace kcred::devcluster {
namespace {

X509Ptr ReadCert(const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// The serving certificate is CA-signed for 127.0.0.1, ::1, localhost, valid from an hour ago.
TEST(PkiTest, ServingCertificateForLocalAddressesSignedByTheCa) {
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  absl::StatusOr<Pki> pki = CreatePki(now);
  ASSERT_TRUE(pki.ok()) << pki.status();
  X509Ptr ca = ReadCert(pki->ca_cert_pem);
  X509Ptr server = ReadCert(pki->server_cert_pem);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_verify(server.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(server.get(), "example.com", 0, 0, nullptr), 0);
  time_t before = absl::ToTimeT(now - absl::Minutes(59));
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(server.get()), &before), 0);
  EXPECT_NE(pki->server_key_pem.find("PRIVATE KEY"), std::string::npos);
}

}  // namespace
}  // namespace kcred::devcluster
