#include "devcluster/field_selector.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kcred::devcluster {
namespace {

std::string Strip(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

// The string at the dotted `path` of `object`, or nullopt when absent or not a string.
std::optional<std::string> StringAt(const nlohmann::json& object, absl::string_view path) {
  const nlohmann::json* node = &object;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!node->is_object()) return std::nullopt;
    auto it = node->find(std::string(part));
    if (it == node->end()) return std::nullopt;
    node = &*it;
  }
  if (!node->is_string()) return std::nullopt;
  return node->get<std::string>();
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text,
                                                   const std::vector<std::string>& extra_fields) {
  FieldSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    std::string term = Strip(raw);
    Requirement req;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      req.field = Strip(term.substr(0, pos));
      req.equals = false;
      req.value = Strip(term.substr(pos + 2));
    } else if ((pos = term.find("==")) != std::string::npos) {
      req.field = Strip(term.substr(0, pos));
      req.equals = true;
      req.value = Strip(term.substr(pos + 2));
    } else if ((pos = term.find('=')) != std::string::npos) {
      req.field = Strip(term.substr(0, pos));
      req.equals = true;
      req.value = Strip(term.substr(pos + 1));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid field selector: \"", term,
                                                     "\" is not field=value or field!=value"));
    }
    bool supported =
        req.field == "metadata.name" || req.field == "metadata.namespace" ||
        std::find(extra_fields.begin(), extra_fields.end(), req.field) != extra_fields.end();
    if (!supported) {
      return absl::InvalidArgumentError(absl::StrCat("field label not supported: ", req.field));
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool FieldSelector::Matches(const nlohmann::json& object) const {
  for (const Requirement& req : requirements_) {
    std::string actual = StringAt(object, req.field).value_or("");
    if ((actual == req.value) != req.equals) return false;
  }
  return true;
}

}  // namespace kcred::devcluster
