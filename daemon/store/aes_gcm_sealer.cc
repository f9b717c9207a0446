#include "daemon/store/aes_gcm_sealer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl.h"

namespace kcred::store {
namespace {

constexpr size_t kMaxKeyIdSize = 255;

const unsigned char* Bytes(absl::string_view data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}

struct ParsedBlob {
  absl::string_view header;  // version, key id length, key id: authenticated with the AAD
  absl::string_view key_id;
  absl::string_view nonce;
  absl::string_view ciphertext;
  absl::string_view tag;
};

absl::StatusOr<ParsedBlob> ParseBlob(absl::string_view blob) {
  if (blob.size() < 2) {
    return absl::DataLossError(absl::StrCat("sealed blob is ", blob.size(),
                                            " bytes, too short to be sealed data; it is damaged"));
  }
  const unsigned char version = static_cast<unsigned char>(blob[0]);
  if (version != AesGcmSealer::kFormatVersion) {
    return absl::DataLossError(
        absl::StrCat("sealed blob has format version ", version, "; this kcredd reads version ",
                     AesGcmSealer::kFormatVersion, " (a newer kcredd wrote it, or it is damaged)"));
  }
  const size_t id_size = static_cast<unsigned char>(blob[1]);
  const size_t header_size = 2 + id_size;
  if (id_size == 0 ||
      blob.size() < header_size + AesGcmSealer::kNonceSize + AesGcmSealer::kTagSize) {
    return absl::DataLossError(absl::StrCat("sealed blob is truncated (", blob.size(),
                                            " bytes, key id length ", id_size,
                                            "); it is damaged and cannot be opened"));
  }
  ParsedBlob parsed;
  parsed.header = blob.substr(0, header_size);
  parsed.key_id = blob.substr(2, id_size);
  parsed.nonce = blob.substr(header_size, AesGcmSealer::kNonceSize);
  const size_t body = header_size + AesGcmSealer::kNonceSize;
  parsed.ciphertext = blob.substr(body, blob.size() - body - AesGcmSealer::kTagSize);
  parsed.tag = blob.substr(blob.size() - AesGcmSealer::kTagSize);
  return parsed;
}

absl::Status CryptoError(absl::string_view action) {
  return absl::InternalError(absl::StrCat(action, ": the OpenSSL AES-256-GCM operation failed"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AesGcmSealer>> AesGcmSealer::Create(
    SealingKey primary, std::vector<SealingKey> previous) {
  std::vector<SealingKey> keys;
  keys.reserve(previous.size() + 1);
  keys.push_back(std::move(primary));
  for (SealingKey& key : previous) keys.push_back(std::move(key));
  absl::flat_hash_set<std::string> seen;
  std::vector<SealingKey> unique;
  for (SealingKey& key : keys) {
    if (key.material.Reveal().size() != kSealingKeySize) {
      return absl::InvalidArgumentError(
          absl::StrCat("sealing key ", key.id, " is ", key.material.Reveal().size(),
                       " bytes; AES-256 needs exactly ", kSealingKeySize));
    }
    if (key.id != SealingKeyId(key.material.Reveal())) {
      return absl::InvalidArgumentError(
          absl::StrCat("sealing key id \"", absl::CHexEscape(key.id),
                       "\" does not match its key material; build keys with MakeSealingKey"));
    }
    // The same key listed as primary and previous is harmless; keep the first.
    if (seen.insert(key.id).second) unique.push_back(std::move(key));
  }
  return std::unique_ptr<AesGcmSealer>(new AesGcmSealer(std::move(unique)));
}

const SealingKey* AesGcmSealer::FindKey(absl::string_view id) const {
  for (const SealingKey& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

absl::StatusOr<std::string> AesGcmSealer::KeyIdOf(absl::string_view blob) {
  absl::StatusOr<ParsedBlob> parsed = ParseBlob(blob);
  if (!parsed.ok()) return parsed.status();
  return std::string(parsed->key_id);
}

absl::StatusOr<std::string> AesGcmSealer::Seal(const SecretString& plaintext,
                                               absl::string_view associated_data) const {
  const SealingKey& key = keys_.front();
  static_assert(kMaxKeyIdSize <= 255, "the key id length is one byte");
  if (key.id.empty() || key.id.size() > kMaxKeyIdSize) {
    return absl::InternalError("sealing key id has an invalid length");
  }
  const std::string& text = plaintext.Reveal();
  if (text.size() > static_cast<size_t>(INT32_MAX) - 64) {
    return absl::InvalidArgumentError("plaintext too large to seal");
  }

  std::string blob;
  blob.reserve(2 + key.id.size() + kNonceSize + text.size() + kTagSize);
  blob.push_back(static_cast<char>(kFormatVersion));
  blob.push_back(static_cast<char>(key.id.size()));
  blob.append(key.id);
  const size_t header_size = blob.size();
  blob.resize(header_size + kNonceSize);
  unsigned char* nonce = reinterpret_cast<unsigned char*>(blob.data() + header_size);
  if (RAND_bytes(nonce, static_cast<int>(kNonceSize)) != 1) {
    return absl::InternalError("sealing: the random number generator failed to make a nonce");
  }

  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key.material.Reveal()), nonce) != 1) {
    return CryptoError("sealing");
  }
  int out_size = 0;
  // Additional authenticated data: the header, then the caller's associated data.
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &out_size, Bytes(blob),
                        static_cast<int>(header_size)) != 1) {
    return CryptoError("sealing");
  }
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &out_size, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    return CryptoError("sealing");
  }
  const size_t body = blob.size();
  blob.resize(body + text.size() + kTagSize);
  unsigned char* out = reinterpret_cast<unsigned char*>(blob.data() + body);
  int written = 0;
  if (!text.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out, &out_size, Bytes(text), static_cast<int>(text.size())) !=
        1) {
      return CryptoError("sealing");
    }
    written = out_size;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out + written, &out_size) != 1) return CryptoError("sealing");
  written += out_size;
  if (static_cast<size_t>(written) != text.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out + written) != 1) {
    return CryptoError("sealing");
  }
  return blob;
}

absl::StatusOr<SecretString> AesGcmSealer::Open(absl::string_view blob,
                                                absl::string_view associated_data) const {
  absl::StatusOr<ParsedBlob> parsed = ParseBlob(blob);
  if (!parsed.ok()) return parsed.status();
  const std::string key_id = absl::CHexEscape(parsed->key_id);
  const SealingKey* key = FindKey(parsed->key_id);
  if (key == nullptr) {
    std::vector<std::string> known;
    for (const SealingKey& k : keys_) known.push_back(k.id);
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed blob was sealed with key id ", key_id, ", which is not in the keyring (known: ",
        absl::StrJoin(known, ", "), "); configure that key as a previous sealing key to open it"));
  }

  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key->material.Reveal()),
                         Bytes(parsed->nonce)) != 1) {
    return CryptoError("opening a sealed blob");
  }
  int out_size = 0;
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &out_size, Bytes(parsed->header),
                        static_cast<int>(parsed->header.size())) != 1 ||
      (!associated_data.empty() &&
       EVP_DecryptUpdate(ctx.get(), nullptr, &out_size, Bytes(associated_data),
                         static_cast<int>(associated_data.size())) != 1)) {
    return CryptoError("opening a sealed blob");
  }
  // The decrypted bytes are wiped on every exit path unless they are handed to a SecretString.
  std::string plaintext(parsed->ciphertext.size(), '\0');
  absl::Cleanup wipe = [&plaintext] { OPENSSL_cleanse(plaintext.data(), plaintext.size()); };
  unsigned char* out = reinterpret_cast<unsigned char*>(plaintext.data());
  int written = 0;
  if (!parsed->ciphertext.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), out, &out_size, Bytes(parsed->ciphertext),
                          static_cast<int>(parsed->ciphertext.size())) != 1) {
      return CryptoError("opening a sealed blob");
    }
    written = out_size;
  }
  std::string tag(parsed->tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1) {
    return CryptoError("opening a sealed blob");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out + written, &out_size) != 1) {
    return absl::DataLossError(absl::StrCat(
        "sealed blob (key id ", key_id,
        ") failed authentication: it was altered, or it belongs to another record (the associated "
        "data differs); it cannot be opened"));
  }
  std::move(wipe).Cancel();
  SecretString result(std::move(plaintext));
  // A short string moves by copy out of its inline buffer, which would keep the bytes.
  OPENSSL_cleanse(plaintext.data(), plaintext.capacity());
  return result;
}

}  // namespace kcred::store
