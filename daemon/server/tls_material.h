#pragma once
// kcredd's TCP TLS material: validated from the operator's files (listen.tcp.tls), then copied
// into a private directory that gRPC's file-watching certificate provider reads. Only material
// that passed LoadTlsMaterial ever reaches those copies, so a broken file on disk can be refused
// at reload while the server keeps serving what it had.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret.h"
#include "daemon/config/config.h"

namespace kcred::server {

struct TlsMaterial {
  std::string cert_chain_pem;  // the server certificate chain, leaf first, as PEM
  SecretString key_pem;        // its private key, as PEM
  std::string client_ca_pem;   // the client CA bundle, or "" when there is none
  // "sha256:" and the 64 hex digits of SHA-256 over the leaf certificate's DER encoding (what
  // `openssl x509 -fingerprint -sha256` prints, lower case and without colons).
  std::string fingerprint;
  std::string subject;  // the leaf's subject, one line, for logs
  absl::Time not_after;
};

// Reads and checks `tls`: the certificate file holds at least one PEM certificate and nothing
// unparseable, the key file holds an unencrypted PEM private key matching the first certificate,
// and the client CA file (when set) holds at least one PEM certificate. Errors name the config
// key, the file and what is wrong (InvalidArgument, or the read error's code when a file cannot be
// read); they never quote key material.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const config::TlsConfig& tls);

// The private directory holding kcredd's copies of the TLS material (mode 0700, files 0600).
// Each Write goes to a new subdirectory `material-<n>`, and a symlink `current` is then switched
// to it with one rename, so a reader going through `current/` sees one complete generation or the
// other, never the new certificate with the old key. Each generation's files are also given a
// modification time (in whole seconds) later than the previous generation's: gRPC's file watcher
// compares those times before and after reading the key and the certificate and reads again
// when they changed, which catches a read that straddles the switch.
// Not thread-safe: the owner serialises Write calls.
class TlsWorkDir {
 public:
  // Uses `dir` (created if missing; must be a directory owned by this user, not a symlink; its
  // mode is set to 0700, and copies left there by an earlier run are removed), or a new
  // temporary directory when `dir` is empty. FailedPrecondition naming the directory when it
  // cannot be used.
  static absl::StatusOr<std::unique_ptr<TlsWorkDir>> Create(const std::string& dir);
  // Removes the copies, and the directory itself when it was temporary.
  ~TlsWorkDir();
  TlsWorkDir(const TlsWorkDir&) = delete;
  TlsWorkDir& operator=(const TlsWorkDir&) = delete;

  // Writes `material` as a new generation and makes it current; the generation before the
  // previous one is removed (the previous one stays, as a reader may still hold its paths). On
  // error the current generation is unchanged.
  absl::Status Write(const TlsMaterial& material);

  const std::string& path() const { return path_; }
  // Stable paths through the `current` symlink, for the file watcher.
  std::string cert_path() const { return path_ + "/current/tls.crt"; }
  std::string key_path() const { return path_ + "/current/tls.key"; }
  std::string client_ca_path() const { return path_ + "/current/client-ca.crt"; }

 private:
  TlsWorkDir(std::string path, bool temporary) : path_(std::move(path)), temporary_(temporary) {}
  std::string Generation(int n) const;
  void RemoveCopies();

  std::string path_;
  bool temporary_;
  int generation_ = 0;
  time_t last_mtime_ = 0;  // the latest modification time given to a written file
};

}  // namespace kcred::server
