#pragma once
// Field selectors as list and watch requests carry them (`fieldSelector=metadata.name=x`). Label
// selectors are common/label_selector.h's (kcred::LabelSelector, with common/json_labels.h).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kcred::devcluster {

class FieldSelector {
 public:
  // Parses `field=value`, `field==value`, `field!=value`, comma-separated. Supported fields:
  // metadata.name, metadata.namespace, and `extra_fields` (e.g. "type" for Secrets).
  // InvalidArgument ("field label not supported: x") otherwise.
  static absl::StatusOr<FieldSelector> Parse(absl::string_view text,
                                             const std::vector<std::string>& extra_fields = {});
  // Whether `object` satisfies every requirement (a missing field reads as "").
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
