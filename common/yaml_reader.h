#pragma once
// YamlReader: reads typed values out of a yaml-cpp document, turning every problem into an
// InvalidArgument error that names the source, line, column and dotted key path, e.g.
// `kcredd.yaml:7:3: listen.tcp.tls.cert_file: file "/x.pem" does not exist`.
// Shared by kcredd's config and kcred's provision files.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kcred {

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  const std::string& source() const { return source_; }

  // "path.key", or "key" at the top.
  static std::string Join(const std::string& path, const std::string& key);

  // An error at `at`'s position: "source:line:col: path: message".
  absl::Status Error(const YAML::Node& at, const std::string& path,
                     absl::string_view message) const;

  // Requires a mapping whose keys are all in `allowed` (listed in that order in messages).
  absl::Status ExpectMap(const YAML::Node& node, const std::string& path,
                         const std::vector<std::string>& allowed) const;

  absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<std::string> NonEmptyString(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<bool> Bool(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<double> Double(const YAML::Node& node, const std::string& path) const;
  absl::StatusOr<int> Int(const YAML::Node& node, const std::string& path) const;
  // A non-negative duration such as 90s, 10m or 1h.
  absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const std::string& path) const;
  // A list of non-empty strings.
  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                      const std::string& path) const;

 private:
  std::string source_;
};

// Parses YAML text; an error names source:line:col when it is not valid YAML.
absl::StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& source);

}  // namespace kcred
