#pragma once
// The dev cluster's TLS material: a self-signed CA and a serving certificate for 127.0.0.1, ::1 and
// localhost, created once and kept in the data directory (keys 0600).

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kcred::devcluster {

struct Pki {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

// Creates a CA (ECDSA P-256, 10 years) and a serving certificate signed by it (1 year).
absl::StatusOr<Pki> CreatePki(absl::Time now);

// Loads ca.crt, ca.key, tls.crt and tls.key from `dir` when all exist, else creates them there.
// Errors name the file and what failed.
absl::StatusOr<Pki> LoadOrCreatePki(const std::string& dir, absl::Time now);

}  // namespace kcred::devcluster
