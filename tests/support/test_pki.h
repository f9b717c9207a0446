#pragma once
// A throwaway PKI for tests that serve or call kcredd over (m)TLS: CAs, server certificates for
// 127.0.0.1 and localhost, client certificates, all valid from an hour ago for two days, and a
// directory of PEM files for a kcredd configuration. The one test PKI of the project.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/pki.h"

namespace kcred::testing {

struct TestClient {
  std::string file;  // WriteTestPki writes <file>.crt and <file>.key
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
};

// A CA named `name`.
absl::StatusOr<KeyAndCert> TestCa(const std::string& name);
// A server certificate ("kcredd", for 127.0.0.1 and localhost) signed by `ca`.
absl::StatusOr<KeyAndCert> TestServerCert(const KeyAndCert& ca);
// A client certificate with the names of `client`, signed by `ca`.
absl::StatusOr<KeyAndCert> TestClientCert(const KeyAndCert& ca, const TestClient& client);

// Writes <dir>/ca.crt, <dir>/tls.crt and <dir>/tls.key (kcredd's server certificate), and each
// client's certificate and key, all signed by one CA.
absl::Status WriteTestPki(const std::string& dir, const std::vector<TestClient>& clients);

}  // namespace kcred::testing
