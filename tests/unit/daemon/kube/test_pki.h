#pragma once
// A throwaway PKI for TLS tests, made with the OpenSSL API: a CA and leaf certificates it signs
// (EC P-256, valid from an hour ago for a day).

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace kcred::kube::testing {

struct EvpKeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using EvpKeyPtr = std::unique_ptr<EVP_PKEY, EvpKeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

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
