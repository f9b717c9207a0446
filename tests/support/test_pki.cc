#include "tests/support/test_pki.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/process.h"

namespace kcred::testing {

absl::Status WriteTestPki(const std::string& dir, const std::vector<TestClient>& clients) {
  const absl::Time now = absl::Now() - absl::Minutes(5);
  absl::StatusOr<KeyAndCert> ca = CreateCertificateAuthority("kcred test CA", now, absl::Hours(2));
  if (!ca.ok()) return ca.status();
  CertificateRequest server;
  server.common_name = "kcredd";
  server.ip_addresses = {"127.0.0.1"};
  server.dns_names = {"localhost"};
  server.not_before = now;
  server.validity = absl::Hours(2);
  absl::StatusOr<KeyAndCert> server_cert = IssueCertificate(*ca, server);
  if (!server_cert.ok()) return server_cert.status();
  std::vector<std::pair<std::string, std::string>> files = {{"ca.crt", ca->cert_pem},
                                                            {"tls.crt", server_cert->cert_pem},
                                                            {"tls.key", server_cert->key_pem}};
  for (const TestClient& client : clients) {
    CertificateRequest request;
    request.common_name = client.common_name;
    request.dns_names = client.dns_names;
    request.uris = client.uris;
    request.server = false;
    request.client = true;
    request.not_before = now;
    request.validity = absl::Hours(2);
    absl::StatusOr<KeyAndCert> cert = IssueCertificate(*ca, request);
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
