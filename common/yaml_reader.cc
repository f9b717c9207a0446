#include "common/yaml_reader.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kcred {

std::string YamlReader::Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

absl::Status YamlReader::Error(const YAML::Node& at, const std::string& path,
                               absl::string_view message) const {
  const YAML::Mark mark = at.Mark();
  std::string where = source_;
  if (mark.line >= 0) absl::StrAppend(&where, ":", mark.line + 1, ":", mark.column + 1);
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", path.empty() ? "" : path + ": ", message));
}

absl::Status YamlReader::ExpectMap(const YAML::Node& node, const std::string& path,
                                   const std::vector<std::string>& allowed) const {
  if (!node.IsMap()) {
    return Error(node, path,
                 absl::StrCat("expected a mapping with keys ", absl::StrJoin(allowed, ", ")));
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Error(kv.first, Join(path, key),
                   absl::StrCat("unknown key; expected one of ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> YamlReader::String(const YAML::Node& node,
                                               const std::string& path) const {
  if (!node.IsScalar()) return Error(node, path, "expected a string");
  return node.Scalar();
}

absl::StatusOr<std::string> YamlReader::NonEmptyString(const YAML::Node& node,
                                                       const std::string& path) const {
  auto s = String(node, path);
  if (s.ok() && s->empty()) return Error(node, path, "must not be empty");
  return s;
}

absl::StatusOr<bool> YamlReader::Bool(const YAML::Node& node, const std::string& path) const {
  if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
    return node.Scalar() == "true";
  }
  return Error(node, path, "expected true or false");
}

absl::StatusOr<double> YamlReader::Double(const YAML::Node& node, const std::string& path) const {
  double v = 0;
  if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), &v)) {
    return Error(node, path, "expected a number");
  }
  return v;
}

absl::StatusOr<int> YamlReader::Int(const YAML::Node& node, const std::string& path) const {
  int v = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &v)) {
    return Error(node, path, "expected an integer");
  }
  return v;
}

absl::StatusOr<absl::Duration> YamlReader::Duration(const YAML::Node& node,
                                                    const std::string& path) const {
  absl::Duration d;
  if (!node.IsScalar() || !absl::ParseDuration(node.Scalar(), &d) || d < absl::ZeroDuration()) {
    return Error(node, path, "expected a duration such as 90s, 10m or 1h");
  }
  return d;
}

absl::StatusOr<std::vector<std::string>> YamlReader::StringList(const YAML::Node& node,
                                                                const std::string& path) const {
  if (!node.IsSequence()) return Error(node, path, "expected a list of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto s = NonEmptyString(node[i], absl::StrCat(path, "[", i, "]"));
    if (!s.ok()) return s.status();
    out.push_back(*s);
  }
  return out;
}

absl::StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
}

}  // namespace kcred
