#include "devcluster/selectors.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kcred::devcluster {
namespace {

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitTerms(absl::string_view text) {
  std::vector<std::string> terms;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(current);
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  terms.push_back(current);
  return terms;
}

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

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  LabelSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (const std::string& raw : SplitTerms(text)) {
    std::string term = Strip(raw);
    if (term.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unable to parse requirement: empty term in label selector \"", text, "\""));
    }
    Requirement req;
    size_t pos;
    if (term[0] == '!') {
      req.key = Strip(term.substr(1));
      req.op = Op::kNotExists;
    } else if ((pos = term.find("!=")) != std::string::npos) {
      req.key = Strip(term.substr(0, pos));
      req.op = Op::kNotEquals;
      req.values = {Strip(term.substr(pos + 2))};
    } else if ((pos = term.find("==")) != std::string::npos) {
      req.key = Strip(term.substr(0, pos));
      req.op = Op::kEquals;
      req.values = {Strip(term.substr(pos + 2))};
    } else if ((pos = term.find('=')) != std::string::npos) {
      req.key = Strip(term.substr(0, pos));
      req.op = Op::kEquals;
      req.values = {Strip(term.substr(pos + 1))};
    } else if (size_t paren = term.find('('); paren != std::string::npos) {
      if (term.back() != ')') {
        return absl::InvalidArgumentError(
            absl::StrCat("unable to parse requirement: missing ')' in \"", term, "\""));
      }
      std::vector<std::string> words =
          absl::StrSplit(term.substr(0, paren), ' ', absl::SkipWhitespace());
      if (words.size() != 2 || (words[1] != "in" && words[1] != "notin")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unable to parse requirement: expected \"<key> in (...)\" or \"<key> notin (...)\", "
            "got \"",
            term, "\""));
      }
      req.key = words[0];
      req.op = words[1] == "in" ? Op::kIn : Op::kNotIn;
      for (absl::string_view v :
           absl::StrSplit(term.substr(paren + 1, term.size() - paren - 2), ',')) {
        req.values.push_back(Strip(v));
      }
    } else {
      req.key = term;
      req.op = Op::kExists;
    }
    if (req.key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unable to parse requirement: empty key in \"", term, "\""));
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool LabelSelector::Matches(const nlohmann::json& labels) const {
  for (const Requirement& req : requirements_) {
    std::optional<std::string> value;
    if (labels.is_object()) {
      auto it = labels.find(req.key);
      if (it != labels.end() && it->is_string()) value = it->get<std::string>();
    }
    auto in_values = [&] {
      return value && std::find(req.values.begin(), req.values.end(), *value) != req.values.end();
    };
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!in_values()) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (in_values()) return false;
        break;
      case Op::kExists:
        if (!value) return false;
        break;
      case Op::kNotExists:
        if (value) return false;
        break;
    }
  }
  return true;
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text,
                                                   const std::vector<std::string>& extra_fields) {
  FieldSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (const std::string& raw : SplitTerms(text)) {
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
