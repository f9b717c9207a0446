#pragma once
// The PATCH bodies kubectl and client libraries send: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and strategic merge patch for the simple cases (maps merge, lists of objects with a
// "name" merge by name, `$patch: delete|replace`, `$setElementOrder` and `$retainKeys` ignored).

#include <nlohmann/json.hpp>
#include <string_view>

#include "absl/status/statusor.h"

namespace kcred::devcluster {

enum class PatchType { kMerge, kJson, kStrategicMerge };

// The patch type of a Content-Type header, or InvalidArgument for anything else (including
// server-side apply).
absl::StatusOr<PatchType> PatchTypeFromContentType(absl::string_view content_type);

// Applies `patch` (already parsed) to `target`; InvalidArgument when the patch is malformed or a
// JSON patch operation fails (the message says which).
absl::StatusOr<nlohmann::json> ApplyPatch(const nlohmann::json& target, const nlohmann::json& patch,
                                          PatchType type);

}  // namespace kcred::devcluster
