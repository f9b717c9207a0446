#pragma once
// An in-memory ObjectReader for the auth tests: objects keyed by resource, namespace and name.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "devcluster/auth/object_reader.h"

namespace kcred::devcluster::testing {

class FakeObjectReader : public ObjectReader {
 public:
  // Stores `object` under its metadata.namespace and metadata.name (replacing any previous one).
  void Put(std::string resource, nlohmann::json object) {
    std::string ns = object["metadata"].value("namespace", "");
    std::string name = object["metadata"].value("name", "");
    objects_[{std::move(resource), ns, name}] = std::move(object);
  }
  void Delete(const std::string& resource, const std::string& ns, const std::string& name) {
    objects_.erase({resource, ns, name});
  }

  std::optional<nlohmann::json> Get(std::string_view resource, std::string_view ns,
                                    std::string_view name) const override {
    auto it = objects_.find({std::string(resource), std::string(ns), std::string(name)});
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<nlohmann::json> List(std::string_view resource, std::string_view ns) const override {
    std::vector<nlohmann::json> out;
    for (const auto& [key, object] : objects_) {
      if (std::get<0>(key) == resource && (ns.empty() || std::get<1>(key) == ns)) {
        out.push_back(object);
      }
    }
    return out;
  }

 private:
  std::map<std::tuple<std::string, std::string, std::string>, nlohmann::json> objects_;
};

}  // namespace kcred::devcluster::testing
