// AesGcmSealer: blobs round-trip, are bound to their record and key, reveal nothing, and any
// change to any byte is detected.

#include "daemon/store/aes_gcm_sealer.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kcred::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

SealingKey KeyFromByte(char fill) {
  absl::StatusOr<SealingKey> key = MakeSealingKey(SecretString(std::string(32, fill)));
  EXPECT_TRUE(key.ok()) << key.status();
  return std::move(*key);
}

std::unique_ptr<AesGcmSealer> MustCreate(SealingKey primary,
                                         std::vector<SealingKey> previous = {}) {
  absl::StatusOr<std::unique_ptr<AesGcmSealer>> sealer =
      AesGcmSealer::Create(std::move(primary), std::move(previous));
  EXPECT_TRUE(sealer.ok()) << sealer.status();
  return sealer.ok() ? std::move(*sealer) : nullptr;
}

constexpr char kRecord[] = "accounts/dev/automation/ci-bot#generation=3";
const SecretString kToken("eyJhbGciOiJSUzI1NiJ9.c2VydmljZWFjY291bnQ.signature-bytes");

// Empty, one-byte, token, 64 KiB and NUL-holding plaintexts open back byte for byte.
TEST(AesGcmSealerTest, RoundTripsPlaintextsOfEverySize) {
  // Empty, short and large plaintexts come back byte for byte.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  for (const std::string& text :
       {std::string(), std::string("x"), kToken.Reveal(), std::string(64 * 1024, '\xab'),
        std::string("\0with\0nuls\xff", 11)}) {
    absl::StatusOr<std::string> blob = sealer->Seal(SecretString(text), kRecord);
    ASSERT_TRUE(blob.ok()) << blob.status();
    absl::StatusOr<SecretString> opened = sealer->Open(*blob, kRecord);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(opened->Reveal() == text);
  }
}

// A blob is version 1, key id length, key id, nonce, ciphertext and tag; KeyIdOf reads its key id.
TEST(AesGcmSealerTest, BlobHasTheDocumentedLayout) {
  // version byte, key id length, key id, 12-byte nonce, ciphertext, 16-byte tag.
  SealingKey key = KeyFromByte('k');
  const std::string id = key.id;
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(std::move(key));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> blob = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  ASSERT_EQ(blob->size(), 2 + id.size() + 12 + kToken.Reveal().size() + 16);
  EXPECT_EQ(static_cast<unsigned char>((*blob)[0]), 1);
  EXPECT_EQ(static_cast<unsigned char>((*blob)[1]), id.size());
  EXPECT_EQ(blob->substr(2, id.size()), id);
  EXPECT_EQ(sealer->primary_key_id(), id);
  EXPECT_EQ(*AesGcmSealer::KeyIdOf(*blob), id);
}

// No 8-byte piece of the token shows in its blob, and sealing it twice uses two different nonces.
TEST(AesGcmSealerTest, PlaintextNeverAppearsInTheBlob) {
  // Neither the token nor any 8-byte piece of it is visible in the blob, and each seal uses a
  // fresh nonce, so sealing the same token twice gives unrelated blobs.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> first = sealer->Seal(kToken, kRecord);
  absl::StatusOr<std::string> second = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(first.ok() && second.ok());
  const std::string& token = kToken.Reveal();
  for (size_t i = 0; i + 8 <= token.size(); ++i) {
    EXPECT_EQ(first->find(token.substr(i, 8)), std::string::npos) << "piece at " << i;
  }
  EXPECT_NE(*first, *second);
  const size_t body = 2 + sealer->primary_key_id().size();
  EXPECT_NE(first->substr(body, 12), second->substr(body, 12)) << "nonce reused";
}

// Flipping a low or high bit of any byte of a blob makes Open fail without quoting the token.
TEST(AesGcmSealerTest, AnyAlteredByteIsDetected) {
  // Flipping any bit of any byte (header, key id, nonce, ciphertext, tag) makes Open fail, and
  // the error never carries the plaintext.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> blob = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  for (size_t i = 0; i < blob->size(); ++i) {
    for (unsigned char bit : {0x01, 0x80}) {
      std::string altered = *blob;
      altered[i] = static_cast<char>(altered[i] ^ bit);
      absl::StatusOr<SecretString> opened = sealer->Open(altered, kRecord);
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << int{bit};
      EXPECT_THAT(opened.status().message(), Not(HasSubstr(kToken.Reveal().substr(0, 12))));
    }
  }
}

// A changed ciphertext or tag byte fails authentication as DATA_LOSS.
TEST(AesGcmSealerTest, AlteredCiphertextOrTagIsDataLoss) {
  // A changed ciphertext or tag byte is an authentication failure, reported as DATA_LOSS.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> blob = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  for (size_t i : {blob->size() - 1, blob->size() - 20, size_t{2} + 16 + 3}) {
    std::string altered = *blob;
    altered[i] = static_cast<char>(altered[i] ^ 0x10);
    absl::StatusOr<SecretString> opened = sealer->Open(altered, kRecord);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << i;
    EXPECT_THAT(opened.status().message(), HasSubstr("failed authentication"));
  }
}

// Every truncation of a blob, and a blob with a byte appended, is DATA_LOSS.
TEST(AesGcmSealerTest, TruncatedAndExtendedBlobsAreRejected) {
  // Every prefix of a blob, and a blob with bytes appended, fails to open.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> blob = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  for (size_t size = 0; size < blob->size(); ++size) {
    absl::StatusOr<SecretString> opened = sealer->Open(blob->substr(0, size), kRecord);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << size;
  }
  EXPECT_EQ(sealer->Open(*blob + "x", kRecord).status().code(), absl::StatusCode::kDataLoss);
}

// A blob of format version 2 is DATA_LOSS saying which version it is and which this one reads.
TEST(AesGcmSealerTest, UnknownFormatVersionIsNamed) {
  // A blob from a future format says so instead of failing obscurely.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  std::string blob = *sealer->Seal(kToken, kRecord);
  blob[0] = 2;
  absl::StatusOr<SecretString> opened = sealer->Open(blob, kRecord);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(),
              HasSubstr("format version 2; this kcredd reads version 1"));
}

// A blob opens only with the record it was sealed for: another account, generation or no record is
// DATA_LOSS, and a blob sealed for no record opens only without one.
TEST(AesGcmSealerTest, BlobMovedToAnotherRecordDoesNotOpen) {
  // Associated data binds the blob to its record: another account or generation cannot open it.
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('k'));
  ASSERT_NE(sealer, nullptr);
  absl::StatusOr<std::string> blob = sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  for (const std::string& other :
       {std::string("accounts/dev/automation/other#generation=3"),
        std::string("accounts/dev/automation/ci-bot#generation=4"), std::string()}) {
    absl::StatusOr<SecretString> opened = sealer->Open(*blob, other);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << other;
    EXPECT_THAT(opened.status().message(), HasSubstr("belongs to another record"));
  }
  absl::StatusOr<std::string> unbound = sealer->Seal(kToken, "");
  ASSERT_TRUE(unbound.ok());
  EXPECT_FALSE(sealer->Open(*unbound, kRecord).ok());
  EXPECT_TRUE(sealer->Open(*unbound, "").ok());
}

// With the old key kept as a previous key, its blobs still open and new blobs use the new key.
TEST(AesGcmSealerTest, PreviousKeysStillOpenAfterRotation) {
  // After rotating, blobs of the old key open and new blobs use the new primary key.
  SealingKey old_key = KeyFromByte('o');
  const std::string old_id = old_key.id;
  std::unique_ptr<AesGcmSealer> before = MustCreate(KeyFromByte('o'));
  ASSERT_NE(before, nullptr);
  absl::StatusOr<std::string> old_blob = before->Seal(kToken, kRecord);
  ASSERT_TRUE(old_blob.ok());

  SealingKey new_key = KeyFromByte('n');
  const std::string new_id = new_key.id;
  std::vector<SealingKey> previous;
  previous.push_back(std::move(old_key));
  std::unique_ptr<AesGcmSealer> after = MustCreate(std::move(new_key), std::move(previous));
  ASSERT_NE(after, nullptr);
  absl::StatusOr<SecretString> opened = after->Open(*old_blob, kRecord);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(*opened == kToken);
  absl::StatusOr<std::string> new_blob = after->Seal(kToken, kRecord);
  ASSERT_TRUE(new_blob.ok());
  EXPECT_EQ(*AesGcmSealer::KeyIdOf(*new_blob), new_id);
  EXPECT_EQ(*AesGcmSealer::KeyIdOf(*old_blob), old_id);
  EXPECT_NE(new_id, old_id);
}

// A blob of a key not in the keyring is FAILED_PRECONDITION naming both key ids and the fix.
TEST(AesGcmSealerTest, UnknownKeyIdIsAClearError) {
  // A blob sealed with a key that is no longer configured names that key and the fix.
  std::unique_ptr<AesGcmSealer> old_sealer = MustCreate(KeyFromByte('o'));
  std::unique_ptr<AesGcmSealer> new_sealer = MustCreate(KeyFromByte('n'));
  ASSERT_NE(old_sealer, nullptr);
  ASSERT_NE(new_sealer, nullptr);
  absl::StatusOr<std::string> blob = old_sealer->Seal(kToken, kRecord);
  ASSERT_TRUE(blob.ok());
  absl::StatusOr<SecretString> opened = new_sealer->Open(*blob, kRecord);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(opened.status().message(),
            absl::StrCat("sealed blob was sealed with key id ", old_sealer->primary_key_id(),
                         ", which is not in the keyring (known: ", new_sealer->primary_key_id(),
                         "); configure that key as a previous sealing key to open it"));
}

// Errors for a wrong record, a truncated blob and an unknown key never show the key, raw or hex.
TEST(AesGcmSealerTest, ErrorsNeverContainKeyMaterial) {
  // No error message, whatever the failure, carries the key bytes or their hex form.
  const std::string material(32, 'S');
  const std::string hex = absl::BytesToHexString(material);
  std::unique_ptr<AesGcmSealer> sealer = MustCreate(KeyFromByte('S'));
  ASSERT_NE(sealer, nullptr);
  std::string blob = *sealer->Seal(kToken, kRecord);
  std::vector<absl::Status> errors = {
      sealer->Open(blob, "other").status(), sealer->Open(blob.substr(0, 5), kRecord).status(),
      sealer->Open(std::string("\x01\x03xyz") + std::string(40, 'a'), kRecord).status()};
  for (const absl::Status& error : errors) {
    ASSERT_FALSE(error.ok());
    EXPECT_THAT(error.message(), Not(HasSubstr(material.substr(0, 8))));
    EXPECT_THAT(error.message(), Not(HasSubstr(hex.substr(0, 16))));
  }
}

// Create refuses a 16-byte key and a key whose id does not match its bytes.
TEST(AesGcmSealerTest, CreateRejectsMalformedKeys) {
  // Keys of the wrong size or with an id that does not match their bytes are refused.
  SealingKey short_key{"0011223344556677", SecretString(std::string(16, 'k'))};
  EXPECT_EQ(AesGcmSealer::Create(std::move(short_key)).status().code(),
            absl::StatusCode::kInvalidArgument);
  SealingKey mislabelled{"0011223344556677", SecretString(std::string(32, 'k'))};
  absl::StatusOr<std::unique_ptr<AesGcmSealer>> sealer =
      AesGcmSealer::Create(std::move(mislabelled));
  EXPECT_EQ(sealer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sealer.status().message(), HasSubstr("does not match its key material"));
}

// A key id is 16 hex digits, the same for the same key, different for another, and not the key.
TEST(AesGcmSealerTest, KeyIdIsAShortFingerprintNotTheKey) {
  // The key id is 16 hex digits, stable for a key, different between keys, and not the key.
  SealingKey a = KeyFromByte('a');
  EXPECT_EQ(a.id.size(), 16u);
  EXPECT_EQ(a.id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a.id, KeyFromByte('a').id);
  EXPECT_NE(a.id, KeyFromByte('b').id);
  EXPECT_THAT(absl::BytesToHexString(a.material.Reveal()), Not(HasSubstr(a.id)));
}

}  // namespace
}  // namespace kcred::store
