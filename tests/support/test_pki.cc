#include "tests/support/test_pki.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/process.h"

namespace kcred::testing {
namespace {

// Test certificates are valid from an hour ago (clock skew between processes does not matter)
// for two days.
absl::Time NotBefore() { return absl::Now() - absl::Hours(1); }
constexpr absl::Duration kValidity = absl::Hours(48);

}  // namespace

absl::StatusOr<KeyAndCert> TestCa(const std::string& name) {
  return CreateCertificateAuthority(name, NotBefore(), kValidity);
}

absl::StatusOr<KeyAndCert> TestServerCert(const KeyAndCert& ca) {
  CertificateRequest server;
  server.common_name = "kcredd";
  server.ip_addresses = {"127.0.0.1"};
  server.dns_names = {"localhost"};
  server.not_before = NotBefore();
  server.validity = kValidity;
  return IssueCertificate(ca, server);
}

absl::StatusOr<KeyAndCert> TestClientCert(const KeyAndCert& ca, const TestClient& client) {
  CertificateRequest request;
  request.common_name = client.common_name;
  request.dns_names = client.dns_names;
  request.uris = client.uris;
  request.server = false;
  request.client = true;
  request.not_before = NotBefore();
  request.validity = kValidity;
  return IssueCertificate(ca, request);
}

absl::Status WriteTestPki(const std::string& dir, const std::vector<TestClient>& clients) {
  absl::StatusOr<KeyAndCert> ca = TestCa("kcred test CA");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<KeyAndCert> server = TestServerCert(*ca);
  if (!server.ok()) return server.status();
  std::vector<std::pair<std::string, std::string>> files = {
      {"ca.crt", ca->cert_pem}, {"tls.crt", server->cert_pem}, {"tls.key", server->key_pem}};
  for (const TestClient& client : clients) {
    absl::StatusOr<KeyAndCert> cert = TestClientCert(*ca, client);
    if (!cert.ok()) return cert.status();
    files.emplace_back(client.file + ".crt", cert->cert_pem);
    files.emplace_back(client.file + ".key", cert->key_pem);
  }
  for (const auto& [name, data] : files) {
    if (absl::Status s = WriteFile(absl::StrCat(dir, "/", name), data, 0600); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace kcred::testing
