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

// Wipes every byte `text` holds, up to its capacity (bytes a shrink left behind too), and leaves
// it empty. For the std::string temporaries that secrets pass through before a SecretString.
void WipeString(std::string& text);

// Wipes its bytes whenever it lets go of them: on destruction, when assigned over, and in the
// object it was moved from (a short string's bytes stay in the source's inline buffer).
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value);
  ~SecretString();
  SecretString(const SecretString&) = default;
  SecretString& operator=(const SecretString& other);
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;

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
