#pragma once
// The Credential seam: how kcredd authenticates to one API server. A token file is re-read when it
// changes (a projected ServiceAccount token rotates under kcredd's feet); a kubeconfig gives a
// static token, a token file, or a client certificate for mTLS.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/secret.h"

namespace kcred::kube {

struct ClientCertificate {
  std::string cert_pem;  // the certificate (chain) in PEM
  SecretString key_pem;  // its private key in PEM
};

// What goes on the wire: a bearer token, a client certificate, or both.
struct AuthMaterial {
  SecretString bearer_token;                     // empty: no Authorization header
  std::optional<ClientCertificate> client_cert;  // nullopt: no client certificate
};

class Credential {
 public:
  virtual ~Credential() = default;
  // The current material. Errors name the source and what to fix. Thread-safe.
  virtual absl::StatusOr<AuthMaterial> Get() = 0;
  // Called after the server rejected the material with 401: re-read the source now (even when it
  // looks unchanged). Returns true when the material changed, so one more attempt is worthwhile.
  // Thread-safe.
  virtual bool Refresh() = 0;
  // Where the material comes from, for messages ("token file /run/...") - never the material.
  virtual std::string Description() const = 0;
};

using CredentialPtr = std::shared_ptr<Credential>;

// A fixed bearer token.
CredentialPtr MakeStaticTokenCredential(SecretString token);

// A fixed client certificate and key (and optionally a bearer token alongside).
CredentialPtr MakeClientCertificateCredential(ClientCertificate cert, SecretString token = {});

// A bearer token read from a file, re-read whenever the file's inode, size or mtime changes.
class TokenFileCredential final : public Credential {
 public:
  explicit TokenFileCredential(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<AuthMaterial> Get() override;
  bool Refresh() override;
  std::string Description() const override { return "token file " + path_; }

 private:
  struct FileId {
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileId& o) const {
      return inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  // Reads the file when forced or when it changed; returns the current token.
  absl::StatusOr<SecretString> Load(bool force) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  std::optional<FileId> loaded_id_ ABSL_GUARDED_BY(mu_);
  SecretString token_ ABSL_GUARDED_BY(mu_);
};

// The cluster and credential a kubeconfig context names.
struct KubeconfigTarget {
  std::string context;  // the context used (current-context when none was asked for)
  std::string server;   // clusters[].cluster.server
  std::string ca_pem;   // certificate-authority-data decoded, or the certificate-authority file
  CredentialPtr credential;
};

// Reads `path` and resolves `context` (empty: current-context). Supported user entries: token,
// tokenFile, client-certificate(-data) + client-key(-data). Relative file paths are relative to the
// kubeconfig's directory. exec, auth-provider and basic auth are refused with InvalidArgument.
absl::StatusOr<KubeconfigTarget> LoadKubeconfig(const std::string& path,
                                                const std::string& context);

}  // namespace kcred::kube
