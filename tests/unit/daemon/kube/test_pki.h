#pragma once
// A throwaway PKI for TLS tests, made with the OpenSSL API: a CA and leaf certificates it signs
// (EC P-256, valid from an hour ago for a day).

#include <string>
#include <vector>

#include "common/openssl.h"

namespace kcred::kube::testing {

using EvpKeyPtr = kcred::EvpPkeyPtr;
using X509Ptr = kcred::X509Ptr;

struct CertifiedKey {
  EvpKeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
  std::string key_pem;
};

class TestCa {
 public:
  explicit TestCa(const std::string& common_name);
  const CertifiedKey& ca() const { return ca_; }
  const std::string& cert_pem() const { return ca_.cert_pem; }
  // A server certificate for 127.0.0.1 and localhost.
  CertifiedKey IssueServer() const;
  // A client certificate with this common name.
  CertifiedKey IssueClient(const std::string& common_name) const;

 private:
  CertifiedKey Issue(const std::string& common_name, bool server) const;
  CertifiedKey ca_;
};

}  // namespace kcred::kube::testing
