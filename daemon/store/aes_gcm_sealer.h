#pragma once
// AesGcmSealer: the Sealer seam with AES-256-GCM (OpenSSL EVP) and a keyring.
//
// Blob format, version 1 (all lengths in bytes):
//   [0]             format version, 0x01
//   [1]             key id length L (1..255)
//   [2, 2+L)        key id (SealingKeyId of the sealing key, ASCII)
//   [2+L, 14+L)     nonce: 96 random bits, fresh for every blob
//   [14+L, n-16)    ciphertext, as long as the plaintext
//   [n-16, n)       GCM authentication tag (128 bits)
// The GCM additional authenticated data is the header (bytes [0, 2+L)) followed by the caller's
// associated data, so neither the key id nor the record binding can be changed undetected.
//
// Keyring: one primary key seals; the primary and any previous keys open. To rotate, make the new
// key primary and list the old one as previous until every blob has been re-sealed.
// With random nonces a key should seal well under 2^32 blobs; kcred seals one per token.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/store/sealer.h"
#include "daemon/store/sealing_key.h"

namespace kcred::store {

class AesGcmSealer : public Sealer {
 public:
  static constexpr unsigned char kFormatVersion = 1;
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;

  // INVALID_ARGUMENT when a key is not 32 bytes or its id does not match its material.
  static absl::StatusOr<std::unique_ptr<AesGcmSealer>> Create(
      SealingKey primary, std::vector<SealingKey> previous = {});

  absl::StatusOr<std::string> Seal(const SecretString& plaintext,
                                   absl::string_view associated_data) const override;
  absl::StatusOr<SecretString> Open(absl::string_view blob,
                                    absl::string_view associated_data) const override;

  // The id of the key that seals new blobs.
  const std::string& primary_key_id() const { return keys_.front().id; }

  // The key id recorded in a blob (to find blobs that need re-sealing after a key rotation);
  // DATA_LOSS when the header is malformed.
  static absl::StatusOr<std::string> KeyIdOf(absl::string_view blob);

 private:
  explicit AesGcmSealer(std::vector<SealingKey> keys) : keys_(std::move(keys)) {}
  const SealingKey* FindKey(absl::string_view id) const;

  std::vector<SealingKey> keys_;  // keys_[0] is the primary
};

}  // namespace kcred::store
