#pragma once
// Read access to the dev cluster's objects, in their Kubernetes JSON form, for authentication and
// authorization. The object store implements it; unit tests use a map.

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace kcred::devcluster {

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // `resource` is the plural resource name ("serviceaccounts", "secrets", "roles", "clusterroles",
  // "rolebindings", "clusterrolebindings"); `ns` is empty for cluster-scoped resources.
  // Returns nullopt when the object does not exist. Thread-safe.
  virtual std::optional<nlohmann::json> Get(std::string_view resource, std::string_view ns,
                                            std::string_view name) const = 0;
  // All objects of `resource` in `ns` (all namespaces when `ns` is empty). Thread-safe.
  virtual std::vector<nlohmann::json> List(std::string_view resource,
                                           std::string_view ns) const = 0;
};

}  // namespace kcred::devcluster
