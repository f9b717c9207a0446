#pragma once
// Label and field selectors as list and watch requests carry them (`labelSelector=a=b,c!=d,e`,
// `fieldSelector=metadata.name=x`).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kcred::devcluster {

class LabelSelector {
 public:
  // Parses `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma-separated.
  // InvalidArgument names the bad term. An empty selector matches everything.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);
  // Whether `labels` (a JSON object of strings, or null) satisfies every requirement.
  bool Matches(const nlohmann::json& labels) const;

 private:
  enum class Op { kEquals, kNotEquals, kExists, kNotExists, kIn, kNotIn };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  // Parses `field=value`, `field==value`, `field!=value`, comma-separated. Supported fields:
  // metadata.name, metadata.namespace, and `extra_fields` (e.g. "type" for Secrets).
  // InvalidArgument ("field label not supported: x") otherwise.
  static absl::StatusOr<FieldSelector> Parse(absl::string_view text,
                                             const std::vector<std::string>& extra_fields = {});
  bool Matches(const nlohmann::json& object) const;

 private:
  struct Requirement {
    std::string field;
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace kcred::devcluster
