#pragma once
// File helpers. Files that hold secrets are written with WriteFileAtomic: a temp file in the same
// directory, fsync, rename over the target, fsync of the directory, so readers see old or new,
// never a torn file, and the mode is right from the first byte.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kcred {

// Writes `data` to `path` atomically with permission bits `mode` (e.g. 0600).
absl::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode);

// Reads a whole file; NotFound when missing, PermissionDenied/Internal otherwise, naming the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace kcred
