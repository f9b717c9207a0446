#include "common/json_labels.h"

namespace kcred {

std::map<std::string, std::string> LabelsFromJson(const nlohmann::json& labels) {
  std::map<std::string, std::string> out;
  if (!labels.is_object()) return out;
  for (const auto& [key, value] : labels.items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

bool SelectorMatchesObject(const LabelSelector& selector, const nlohmann::json& object) {
  if (selector.empty()) return true;
  static const nlohmann::json kNoLabels;
  const nlohmann::json* labels = &kNoLabels;
  if (object.is_object()) {
    auto metadata = object.find("metadata");
    if (metadata != object.end() && metadata->is_object()) {
      auto found = metadata->find("labels");
      if (found != metadata->end()) labels = &*found;
    }
  }
  return selector.Matches(LabelsFromJson(*labels));
}

}  // namespace kcred
