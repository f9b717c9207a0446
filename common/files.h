#pragma once
// File helpers. Files that hold secrets are written with WriteFileAtomic: a temp file in the same
// directory, fsync, rename over the target, fsync of the directory, so readers see old or new,
// never a torn file, and the mode is right from the first byte.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret.h"

namespace kcred {

// Writes `data` to `path` atomically with permission bits `mode` (e.g. 0600).
absl::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode);

// Writes all of `data` to `fd`, going on after short writes and EINTR. Returns 0, or the errno of
// the write that failed; `written`, when given, is set to the bytes written either way.
int WriteFully(int fd, absl::string_view data, size_t* written = nullptr);

// Reads a whole file; NotFound when missing, PermissionDenied/Internal otherwise, naming the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Reads a whole file that holds a secret (a private key, a token, a kubeconfig), with the errors
// of ReadFileToString. The bytes go straight into the result; no copy of them is left in memory.
absl::StatusOr<SecretString> ReadSecretFile(const std::string& path);

// Creates `dir` and each missing directory above it with mode 0700 (`mkdir -p` for private
// data); directories that exist are left as they are. Errors name the directory that could not
// be made.
absl::Status CreatePrivateDirectories(const std::string& dir);

}  // namespace kcred
