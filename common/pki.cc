#include "common/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl.h"

namespace kcred {
namespace {

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, " failed (OpenSSL)"));
}

EvpPkeyPtr NewKey() { return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

absl::StatusOr<KeyAndCert> Encode(EVP_PKEY* key, X509* cert) {
  BioPtr kb(BIO_new(BIO_s_mem())), cb(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(kb.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cb.get(), cert) != 1) {
    return OpenSslError("PEM encoding");
  }
  return KeyAndCert{MemoryBioContents(kb.get()), MemoryBioContents(cb.get())};
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

X509Ptr NewCert(EVP_PKEY* key, const std::string& cn, absl::Time not_before,
                absl::Duration validity) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BignumPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_before + validity));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

absl::StatusOr<std::pair<EvpPkeyPtr, X509Ptr>> Decode(const KeyAndCert& pem) {
  BioPtr kb = MemoryBio(pem.key_pem);
  BioPtr cb = MemoryBio(pem.cert_pem);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!key || !cert) return absl::InvalidArgumentError("CA key or certificate is not valid PEM");
  return std::make_pair(std::move(key), std::move(cert));
}

}  // namespace

absl::StatusOr<KeyAndCert> CreateCertificateAuthority(const std::string& common_name,
                                                      absl::Time not_before,
                                                      absl::Duration validity) {
  EvpPkeyPtr key = NewKey();
  if (!key) return OpenSslError("EC key generation");
  X509Ptr cert = NewCert(key.get(), common_name, not_before, validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  for (auto [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                            {NID_subject_key_identifier, "hash"}}) {
    if (auto s = AddExtension(cert.get(), cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return OpenSslError("CA signing");
  return Encode(key.get(), cert.get());
}

absl::StatusOr<KeyAndCert> IssueCertificate(const KeyAndCert& ca,
                                            const CertificateRequest& request) {
  auto decoded = Decode(ca);
  if (!decoded.ok()) return decoded.status();
  auto& [ca_key, ca_cert] = *decoded;
  EvpPkeyPtr key = NewKey();
  if (!key) return OpenSslError("EC key generation");
  X509Ptr cert = NewCert(key.get(), request.common_name, request.not_before, request.validity);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  std::vector<std::string> sans;
  for (const auto& d : request.dns_names) sans.push_back("DNS:" + d);
  for (const auto& ip : request.ip_addresses) sans.push_back("IP:" + ip);
  for (const auto& u : request.uris) sans.push_back("URI:" + u);
  std::vector<std::string> usages;
  if (request.server) usages.push_back("serverAuth");
  if (request.client) usages.push_back("clientAuth");
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!usages.empty()) exts.push_back({NID_ext_key_usage, absl::StrJoin(usages, ",")});
  if (!sans.empty()) exts.push_back({NID_subject_alt_name, absl::StrJoin(sans, ",")});
  for (const auto& [nid, value] : exts) {
    if (auto s = AddExtension(cert.get(), ca_cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
    return OpenSslError("certificate signing");
  return Encode(key.get(), cert.get());
}

}  // namespace kcred
