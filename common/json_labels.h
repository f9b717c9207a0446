#pragma once
// Label selectors (common/label_selector.h) over Kubernetes objects in JSON form, as
// kcred-devcluster and the fake KubeClient hold them.

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/label_selector.h"

namespace kcred {

// `labels` (an object's metadata.labels) as a map for LabelSelector::Matches. Anything but a JSON
// object is no labels; values that are not strings are left out.
std::map<std::string, std::string> LabelsFromJson(const nlohmann::json& labels);

// Whether the metadata.labels of `object` satisfy `selector`. An empty selector matches anything
// (without reading the labels).
bool SelectorMatchesObject(const LabelSelector& selector, const nlohmann::json& object);

}  // namespace kcred
