#pragma once
// Secret material (tokens, keys) travels in SecretString. It has no operator<< and no implicit
// conversion to string, so it cannot reach a log formatter by accident; logs show Fingerprint().

#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace kcred {

// "sha256:" followed by the first 16 hex digits of SHA-256(data): enough to tell tokens apart in
// logs and status, useless for recovering them.
std::string Fingerprint(absl::string_view data);

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  ~SecretString();  // wipes the bytes
  SecretString(const SecretString&) = default;
  SecretString& operator=(const SecretString&) = default;
  SecretString(SecretString&&) noexcept = default;
  SecretString& operator=(SecretString&&) noexcept = default;

  // The secret itself; call only where it must leave the process (an HTTP header, an RPC answer,
  // a sealed blob, a 0600 file).
  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  std::string fingerprint() const { return Fingerprint(value_); }
  bool operator==(const SecretString& other) const { return value_ == other.value_; }
  bool operator!=(const SecretString& other) const { return value_ != other.value_; }

 private:
  std::string value_;
};

}  // namespace kcred
