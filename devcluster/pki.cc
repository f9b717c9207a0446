#include "devcluster/pki.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace kcred::devcluster {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Deleter>;

absl::StatusOr<Ptr<EVP_PKEY>> GenerateKey() {
  Ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    return absl::InternalError("generating an ECDSA P-256 key with OpenSSL failed");
  }
  return Ptr<EVP_PKEY>(key);
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return absl::InternalError(
        absl::StrCat("adding X.509 extension ", OBJ_nid2sn(nid), "=", value, " failed"));
  }
  return absl::OkStatus();
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (self-signed when `issuer`
// is null).
absl::StatusOr<Ptr<X509>> MakeCertificate(EVP_PKEY* key, const std::string& common_name,
                                          X509* issuer, EVP_PKEY* issuer_key, bool is_ca,
                                          absl::Time now, absl::Duration validity) {
  Ptr<X509> cert(X509_new());
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_set_version(cert.get(), 2);
  const int64_t not_before = absl::ToUnixSeconds(now - absl::Hours(1));
  const int64_t not_after = absl::ToUnixSeconds(now + validity);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kcred-devcluster"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* issuer_cert = issuer ? issuer : cert.get();
  absl::Status status = AddExtension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  if (is_ca) {
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    }
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_key_usage,
                            "critical,keyCertSign,cRLSign,digitalSignature");
    }
  } else {
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    }
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_key_usage,
                            "critical,digitalSignature,keyEncipherment");
    }
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_ext_key_usage, "serverAuth");
    }
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_subject_alt_name,
                            "IP:127.0.0.1,IP:::1,DNS:localhost");
    }
    if (status.ok()) {
      status = AddExtension(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid");
    }
  }
  if (!status.ok()) return status;
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return absl::InternalError(
        absl::StrCat("signing the certificate for ", common_name, " failed"));
  }
  return cert;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string CertPem(X509* cert) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioToString(bio.get());
}

std::string KeyPem(EVP_PKEY* key) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioToString(bio.get());
}

}  // namespace

absl::StatusOr<Pki> CreatePki(absl::Time now) {
  absl::StatusOr<Ptr<EVP_PKEY>> ca_key = GenerateKey();
  if (!ca_key.ok()) return ca_key.status();
  absl::StatusOr<Ptr<X509>> ca = MakeCertificate(ca_key->get(), "kcred-devcluster-ca", nullptr,
                                                 ca_key->get(), true, now, absl::Hours(24 * 3650));
  if (!ca.ok()) return ca.status();
  absl::StatusOr<Ptr<EVP_PKEY>> server_key = GenerateKey();
  if (!server_key.ok()) return server_key.status();
  absl::StatusOr<Ptr<X509>> server =
      MakeCertificate(server_key->get(), "kcred-devcluster", ca->get(), ca_key->get(), false, now,
                      absl::Hours(24 * 365));
  if (!server.ok()) return server.status();
  Pki pki;
  pki.ca_cert_pem = CertPem(ca->get());
  pki.ca_key_pem = KeyPem(ca_key->get());
  pki.server_cert_pem = CertPem(server->get());
  pki.server_key_pem = KeyPem(server_key->get());
  return pki;
}

absl::StatusOr<Pki> LoadOrCreatePki(const std::string& dir, absl::Time now) {
  const std::string ca_crt = dir + "/ca.crt", ca_key = dir + "/ca.key", tls_crt = dir + "/tls.crt",
                    tls_key = dir + "/tls.key";
  std::error_code ec;
  if (std::filesystem::exists(ca_crt, ec) && std::filesystem::exists(ca_key, ec) &&
      std::filesystem::exists(tls_crt, ec) && std::filesystem::exists(tls_key, ec)) {
    Pki pki;
    for (auto [path, out] : {std::pair{&ca_crt, &pki.ca_cert_pem},
                             {&ca_key, &pki.ca_key_pem},
                             {&tls_crt, &pki.server_cert_pem},
                             {&tls_key, &pki.server_key_pem}}) {
      absl::StatusOr<std::string> data = kcred::ReadFileToString(*path);
      if (!data.ok()) return data.status();
      *out = *std::move(data);
    }
    return pki;
  }
  absl::StatusOr<Pki> pki = CreatePki(now);
  if (!pki.ok()) return pki.status();
  for (auto [path, data, mode] : {std::tuple{&ca_crt, &pki->ca_cert_pem, 0644},
                                  {&ca_key, &pki->ca_key_pem, 0600},
                                  {&tls_crt, &pki->server_cert_pem, 0644},
                                  {&tls_key, &pki->server_key_pem, 0600}}) {
    if (absl::Status s = kcred::WriteFileAtomic(*path, *data, mode); !s.ok()) return s;
  }
  return pki;
}

}  // namespace kcred::devcluster
