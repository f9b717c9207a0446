#pragma once
// Sealing keys: 256-bit AES keys, loaded from a key file or a systemd credential, and named by a
// key id that is safe to store and log.
//
// Key file format: 64 hexadecimal digits (the 32 key bytes), optionally followed by a newline;
// nothing else. Create one with
//   (umask 077; openssl rand -hex 32 > /etc/kcred/sealing.key)
// The file must not be accessible by group or others (mode 0600 or 0400). Under systemd, pass it
// with `LoadCredential=sealing-key:/etc/kcred/sealing.key` (or LoadCredentialEncrypted=) and kcredd
// reads $CREDENTIALS_DIRECTORY/sealing-key.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"

namespace kcred::store {

inline constexpr size_t kSealingKeySize = 32;

struct SealingKey {
  std::string id;         // SealingKeyId(material): 16 hex digits, safe to store and log
  SecretString material;  // exactly kSealingKeySize bytes
};

// A short fingerprint of the key: the first 8 bytes of SHA-256 over a domain label and the key,
// as 16 hex digits. It identifies the key and reveals nothing usable about it.
std::string SealingKeyId(absl::string_view material);

// A key from raw bytes; INVALID_ARGUMENT unless there are exactly kSealingKeySize of them.
absl::StatusOr<SealingKey> MakeSealingKey(SecretString material);

// Loads a key file: NOT_FOUND when missing, PERMISSION_DENIED when it is accessible by group or
// others (the message says `chmod 600`) or unreadable, INVALID_ARGUMENT when malformed.
absl::StatusOr<SealingKey> LoadSealingKeyFile(const std::string& path);

// Loads the systemd credential `name` from `credentials_directory` (the value of
// $CREDENTIALS_DIRECTORY; "" when it is unset, which is FAILED_PRECONDITION saying how to set it).
absl::StatusOr<SealingKey> LoadSealingKeyCredential(const std::string& name,
                                                    const std::string& credentials_directory);

// Writes a new random key file with mode 0600 (fsynced) and returns the key. ALREADY_EXISTS when
// the file exists: replacing a key would make everything it sealed unreadable.
absl::StatusOr<SealingKey> GenerateSealingKeyFile(const std::string& path);

// Loads `path` when it exists, else generates it: for dev mode, which keeps its state directory.
absl::StatusOr<SealingKey> LoadOrGenerateSealingKeyFile(const std::string& path);

}  // namespace kcred::store
