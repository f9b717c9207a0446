#include "devcluster/patch.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kcred::devcluster {
namespace {

bool IsNamedObjectList(const nlohmann::json& list) {
  if (!list.is_array() || list.empty()) return false;
  for (const nlohmann::json& item : list) {
    if (!item.is_object() || !item.contains("name")) return false;
  }
  return true;
}

nlohmann::json StrategicMerge(const nlohmann::json& target, const nlohmann::json& patch) {
  if (!patch.is_object()) return patch;
  if (patch.value("$patch", "") == "replace") {
    nlohmann::json replaced = patch;
    replaced.erase("$patch");
    return replaced;
  }
  nlohmann::json result = target.is_object() ? target : nlohmann::json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& key = it.key();
    if (absl::StartsWith(key, "$setElementOrder/") || key == "$retainKeys" || key == "$patch") {
      continue;
    }
    const nlohmann::json& value = it.value();
    if (value.is_null()) {
      result.erase(key);
    } else if (value.is_object()) {
      if (value.value("$patch", "") == "delete") {
        result.erase(key);
      } else {
        result[key] = StrategicMerge(result.contains(key) ? result[key] : nlohmann::json(), value);
      }
    } else if (value.is_array() && result.contains(key) && IsNamedObjectList(result[key]) &&
               IsNamedObjectList(value)) {
      nlohmann::json merged = result[key];
      for (const nlohmann::json& item : value) {
        bool found = false;
        for (auto existing = merged.begin(); existing != merged.end(); ++existing) {
          if ((*existing)["name"] == item["name"]) {
            found = true;
            if (item.value("$patch", "") == "delete") {
              merged.erase(existing);
            } else {
              *existing = StrategicMerge(*existing, item);
            }
            break;
          }
        }
        if (!found && item.value("$patch", "") != "delete") merged.push_back(item);
      }
      result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<PatchType> PatchTypeFromContentType(absl::string_view content_type) {
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  media = absl::StripAsciiWhitespace(media);
  if (media == "application/merge-patch+json") return PatchType::kMerge;
  if (media == "application/json-patch+json") return PatchType::kJson;
  if (media == "application/strategic-merge-patch+json") return PatchType::kStrategicMerge;
  return absl::InvalidArgumentError(absl::StrCat(
      "patch content type \"", content_type,
      "\" is not supported; use application/merge-patch+json, application/json-patch+json or "
      "application/strategic-merge-patch+json"));
}

absl::StatusOr<nlohmann::json> ApplyPatch(const nlohmann::json& target, const nlohmann::json& patch,
                                          PatchType type) {
  switch (type) {
    case PatchType::kMerge: {
      if (!patch.is_object()) {
        return absl::InvalidArgumentError("a merge patch must be a JSON object");
      }
      nlohmann::json result = target;
      result.merge_patch(patch);
      return result;
    }
    case PatchType::kStrategicMerge:
      if (!patch.is_object()) {
        return absl::InvalidArgumentError("a strategic merge patch must be a JSON object");
      }
      return StrategicMerge(target, patch);
    case PatchType::kJson:
      if (!patch.is_array()) {
        return absl::InvalidArgumentError("a JSON patch must be a JSON array of operations");
      }
      try {
        return target.patch(patch);
      } catch (const nlohmann::json::exception& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("the JSON patch does not apply: ", e.what()));
      }
  }
  return absl::InvalidArgumentError("unknown patch type");
}

}  // namespace kcred::devcluster
