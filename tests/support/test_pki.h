#pragma once
// A throwaway PKI for tests that serve or call kcredd over mTLS: a CA, a server certificate for
// 127.0.0.1 and localhost, and client certificates, written as PEM files into a directory.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/pki.h"

namespace kcred::testing {

struct TestClient {
  std::string file;  // written as <file>.crt and <file>.key
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
};

// Writes <dir>/ca.crt, <dir>/tls.crt and <dir>/tls.key (kcredd's server certificate), and each
// client's certificate and key, all signed by the CA and valid for two hours.
absl::Status WriteTestPki(const std::string& dir, const std::vector<TestClient>& clients);

}  // namespace kcred::testing
