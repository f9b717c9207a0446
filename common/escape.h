#pragma once
// Escaping of control characters in text that came from outside (account names, a rotation
// reason, a caller's certificate subject). Once escaped, such text cannot start a forged line in
// a log or the audit trail, nor send escape sequences to the terminal of whoever reads it.

#include <string>

#include "absl/strings/string_view.h"

namespace kcred {

// `text` with "\n", "\r" and "\t" written as the two characters \n, \r and \t, and every other
// byte below 0x20 and 0x7f (DEL) as \xNN (two lower-case hex digits). All other bytes, including
// those of UTF-8 sequences, are kept as they are.
std::string EscapeControl(absl::string_view text);

// True when `text` holds a byte that EscapeControl rewrites.
bool HasControl(absl::string_view text);

}  // namespace kcred
