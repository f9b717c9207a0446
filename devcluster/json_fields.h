#pragma once
// Reading Kubernetes objects in their JSON form without exceptions: a missing key, or a value of
// another type than asked for, reads as null, "" or an empty list. The handlers validate what
// they need and treat the rest as absent, as Go's decoding into typed structs would.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kcred::devcluster {

// object[key]; null when `object` is not an object or has no `key`.
const nlohmann::json& Field(const nlohmann::json& object, const char* key);

// The string at a path of nested keys, e.g. Str(secret, {"metadata", "name"}); "" when a step is
// missing or the value is not a string.
std::string Str(const nlohmann::json& object, std::initializer_list<const char*> path);

// The strings of a JSON array (other items skipped); empty for anything but an array.
std::vector<std::string> Strings(const nlohmann::json& array);

}  // namespace kcred::devcluster
