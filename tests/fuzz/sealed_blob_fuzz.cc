// Sealed tokens at rest (the store's blobs): any bytes opened under a fixed keyring are a secret
// or DATA_LOSS / FAILED_PRECONDITION, never a crash; and whatever is sealed opens to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "daemon/store/aes_gcm_sealer.h"

namespace {

constexpr absl::string_view kRecord = "accounts/dev/automation/ci-bot#generation=3";

// Primary key 32 x 'k' (the tests' TestSealer key), previous key 32 x 'p'.
const kcred::store::AesGcmSealer& Keyring() {
  static const kcred::store::AesGcmSealer* sealer = [] {
    auto primary = kcred::store::MakeSealingKey(kcred::SecretString(std::string(32, 'k')));
    auto previous = kcred::store::MakeSealingKey(kcred::SecretString(std::string(32, 'p')));
    if (!primary.ok() || !previous.ok()) std::abort();
    auto created = kcred::store::AesGcmSealer::Create(*std::move(primary), {*std::move(previous)});
    if (!created.ok()) std::abort();
    return created->release();
  }();
  return *sealer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view blob(reinterpret_cast<const char*>(data), size);
  const kcred::store::AesGcmSealer& sealer = Keyring();
  (void)kcred::store::AesGcmSealer::KeyIdOf(blob);
  (void)sealer.Open(blob, kRecord);
  // The input as a secret: sealed, it must open to the same bytes, and only for its own record.
  const kcred::SecretString secret{std::string(blob)};
  absl::StatusOr<std::string> sealed = sealer.Seal(secret, kRecord);
  if (!sealed.ok()) std::abort();
  absl::StatusOr<kcred::SecretString> opened = sealer.Open(*sealed, kRecord);
  if (!opened.ok() || opened->Reveal() != blob) std::abort();
  if (sealer.Open(*sealed, "accounts/dev/automation/other#generation=3").ok()) std::abort();
  return 0;
}
