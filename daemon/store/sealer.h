#pragma once
// The Sealer seam: authenticated encryption of secrets at rest (tokens in the store). A sealed
// blob is opaque bytes that carry the id of the key that sealed them, so keys can be rotated.
//
// Associated data binds a blob to the record it belongs to: it is authenticated but not stored,
// and Open must be given the same bytes that Seal was. Use the record's identity, e.g.
// "accounts/dev/automation/ci-bot#generation=3", so a blob copied to another record (or another
// generation) fails to open instead of serving the wrong token.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"

namespace kcred::store {

class Sealer {
 public:
  virtual ~Sealer() = default;

  // Encrypts `plaintext` bound to `associated_data` under the primary key; returns the blob.
  // INTERNAL only if the crypto library fails. Thread-safe.
  virtual absl::StatusOr<std::string> Seal(const SecretString& plaintext,
                                           absl::string_view associated_data) const = 0;

  // Decrypts a blob made by Seal with the same associated data, with whichever known key sealed
  // it. DATA_LOSS when the blob is malformed, altered or bound to other associated data;
  // FAILED_PRECONDITION when its key is not in the keyring. Messages never contain plaintext or
  // key bytes. Thread-safe.
  virtual absl::StatusOr<SecretString> Open(absl::string_view blob,
                                            absl::string_view associated_data) const = 0;
};

using SealerPtr = std::unique_ptr<Sealer>;

}  // namespace kcred::store
