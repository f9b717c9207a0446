#include "tests/unit/daemon/kube/test_pki.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <stdexcept>

namespace kcred::kube::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

EvpKeyPtr NewKey() {
  EvpKeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_X509(bio, cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n);
  BIO_free(bio);
  return pem;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n);
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr NewCert(EVP_PKEY* key, const std::string& common_name) {
  static std::atomic<long> serial{1};
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

}  // namespace

TestCa::TestCa(const std::string& common_name) {
  ca_.key = NewKey();
  ca_.cert = NewCert(ca_.key.get(), common_name);
  X509_set_issuer_name(ca_.cert.get(), X509_get_subject_name(ca_.cert.get()));
  AddExtension(ca_.cert.get(), ca_.cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(ca_.cert.get(), ca_.cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(ca_.cert.get(), ca_.cert.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(ca_.cert.get(), ca_.key.get(), EVP_sha256()) > 0, "X509_sign (CA)");
  ca_.cert_pem = CertPem(ca_.cert.get());
  ca_.key_pem = KeyPem(ca_.key.get());
}

CertifiedKey TestCa::Issue(const std::string& common_name, bool server) const {
  CertifiedKey leaf;
  leaf.key = NewKey();
  leaf.cert = NewCert(leaf.key.get(), common_name);
  X509_set_issuer_name(leaf.cert.get(), X509_get_subject_name(ca_.cert.get()));
  AddExtension(leaf.cert.get(), ca_.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(leaf.cert.get(), ca_.cert.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(leaf.cert.get(), ca_.cert.get(), NID_authority_key_identifier, "keyid:always");
  if (server) {
    AddExtension(leaf.cert.get(), ca_.cert.get(), NID_ext_key_usage, "serverAuth");
    AddExtension(leaf.cert.get(), ca_.cert.get(), NID_subject_alt_name,
                 "IP:127.0.0.1,DNS:localhost");
  } else {
    AddExtension(leaf.cert.get(), ca_.cert.get(), NID_ext_key_usage, "clientAuth");
  }
  Check(X509_sign(leaf.cert.get(), ca_.key.get(), EVP_sha256()) > 0, "X509_sign (leaf)");
  leaf.cert_pem = CertPem(leaf.cert.get());
  leaf.key_pem = KeyPem(leaf.key.get());
  return leaf;
}

CertifiedKey TestCa::IssueServer() const { return Issue("127.0.0.1", true); }

CertifiedKey TestCa::IssueClient(const std::string& common_name) const {
  return Issue(common_name, false);
}

}  // namespace kcred::kube::testing
