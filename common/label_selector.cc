#include "common/label_selector.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/escape.h"

namespace kcred {
namespace {

// Splits a label selector on commas outside parentheses; nullopt when they do not balance.
std::optional<std::vector<std::string>> SplitSelector(absl::string_view selector) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth < 0 || depth > 1) break;
    if (c == ',' && depth == 0) {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (depth != 0) return std::nullopt;
  parts.push_back(std::move(current));
  return parts;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text, absl::string_view what) {
  LabelSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  std::optional<std::vector<std::string>> parts = SplitSelector(text);
  if (!parts.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", EscapeControl(text), "\": unbalanced parentheses"));
  }
  auto bad = [&](absl::string_view part, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", EscapeControl(text), "\": ", why, " in \"", EscapeControl(part),
        "\"; use key=value, key!=value, key in (a,b), key notin (a,b), key or !key, separated by "
        "commas"));
  };
  for (const std::string& raw : *parts) {
    absl::string_view part = absl::StripAsciiWhitespace(raw);
    if (part.empty()) return bad(part, "empty requirement");
    Requirement req;
    if (size_t paren = part.find('('); paren != absl::string_view::npos) {
      if (part.back() != ')') return bad(part, "text after \")\"");
      std::vector<std::string> head =
          absl::StrSplit(part.substr(0, paren), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (head.size() != 2 || (head[1] != "in" && head[1] != "notin")) {
        return bad(part, "expected \"key in (...)\" or \"key notin (...)\"");
      }
      req.key = head[0];
      req.negate = head[1] == "notin";
      for (absl::string_view v :
           absl::StrSplit(part.substr(paren + 1, part.size() - paren - 2), ',')) {
        req.values.emplace_back(absl::StripAsciiWhitespace(v));
      }
    } else if (size_t ne = part.find("!="); ne != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(0, ne)));
      req.values.emplace_back(absl::StripAsciiWhitespace(part.substr(ne + 2)));
      req.negate = true;
    } else if (size_t eq = part.find('='); eq != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(0, eq)));
      size_t start = eq + 1;
      if (start < part.size() && part[start] == '=') ++start;
      req.values.emplace_back(absl::StripAsciiWhitespace(part.substr(start)));
    } else if (part[0] == '!') {
      req.key = std::string(absl::StripAsciiWhitespace(part.substr(1)));
      req.negate = true;
    } else {
      req.key = std::string(part);
    }
    if (req.key.empty() || req.key.find_first_of(" \t=!()") != std::string::npos) {
      return bad(part, "bad key");
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

}  // namespace kcred
