#include "common/secret.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace kcred {

std::string Fingerprint(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (int i = 0; i < 8; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

void WipeString(std::string& text) {
  // Growing within the capacity does not reallocate; it makes the whole buffer wipeable.
  text.resize(text.capacity());
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

SecretString::SecretString(std::string value) : value_(std::move(value)) { WipeString(value); }

SecretString::~SecretString() { WipeString(value_); }

SecretString& SecretString::operator=(const SecretString& other) {
  if (this != &other) {
    WipeString(value_);
    value_ = other.value_;
  }
  return *this;
}

SecretString::SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) {
  WipeString(other.value_);
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    WipeString(value_);
    value_ = std::move(other.value_);
    WipeString(other.value_);
  }
  return *this;
}

}  // namespace kcred
