#pragma once
// Small X.509 helpers on OpenSSL: make a CA and issue server or client certificates (ECDSA P-256).
// Used by kcred-devcluster for its own TLS material and by tests for temporary PKIs.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kcred {

struct KeyAndCert {
  std::string key_pem;   // PKCS#8 private key: a secret
  std::string cert_pem;  // the certificate
};

struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1", "::1")
  std::vector<std::string> uris;          // subjectAltName URI entries
  bool server = true;                     // extendedKeyUsage serverAuth (else clientAuth)
  bool client = false;                    // also clientAuth
  absl::Time not_before;
  absl::Duration validity = absl::Hours(24 * 365);
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign) valid from `not_before`.
absl::StatusOr<KeyAndCert> CreateCertificateAuthority(const std::string& common_name,
                                                      absl::Time not_before,
                                                      absl::Duration validity);

// A leaf certificate signed by `ca`.
absl::StatusOr<KeyAndCert> IssueCertificate(const KeyAndCert& ca,
                                            const CertificateRequest& request);

}  // namespace kcred
