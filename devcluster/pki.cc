#include "devcluster/pki.h"

#include <filesystem>
#include <tuple>
#include <utility>

#include "common/files.h"
#include "common/pki.h"

namespace kcred::devcluster {

absl::StatusOr<Pki> CreatePki(absl::Time now) {
  // Valid from an hour ago, so that a client whose clock runs a little behind accepts them.
  const absl::Time not_before = now - absl::Hours(1);
  absl::StatusOr<KeyAndCert> ca = CreateCertificateAuthority(
      "kcred-devcluster-ca", not_before, absl::Hours(24 * 3650) + absl::Hours(1));
  if (!ca.ok()) return ca.status();
  CertificateRequest request;
  request.common_name = "kcred-devcluster";
  request.ip_addresses = {"127.0.0.1", "::1"};
  request.dns_names = {"localhost"};
  request.server = true;
  request.not_before = not_before;
  request.validity = absl::Hours(24 * 365) + absl::Hours(1);
  absl::StatusOr<KeyAndCert> server = IssueCertificate(*ca, request);
  if (!server.ok()) return server.status();
  Pki pki;
  pki.ca_cert_pem = std::move(ca->cert_pem);
  pki.ca_key_pem = std::move(ca->key_pem);
  pki.server_cert_pem = std::move(server->cert_pem);
  pki.server_key_pem = std::move(server->key_pem);
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
