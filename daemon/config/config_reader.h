#pragma once
// Internal to daemon/config: the YAML reader of kcredd's configuration, and the parsers of its
// sections, split over config.cc (listen, log, store), cluster_sections.cc (defaults, clusters,
// accounts) and access_sections.cc (authorization, audit, limits).

#include <openssl/pem.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/openssl.h"
#include "common/yaml_reader.h"
#include "daemon/config/config.h"

namespace kcred::config::internal {

// Walks a YAML document, turning every problem into an error that names source:line:col and the
// dotted key path.
class Reader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  // A readable file (its content is not checked here).
  absl::StatusOr<std::string> ReadableFile(const YAML::Node& node, const std::string& path) const {
    auto file = NonEmptyString(node, path);
    if (!file.ok()) return file;
    if (access(file->c_str(), F_OK) != 0) {
      return Error(node, path, absl::StrCat("file \"", *file, "\" does not exist"));
    }
    if (access(file->c_str(), R_OK) != 0) {
      return Error(node, path,
                   absl::StrCat("file \"", *file, "\" is not readable by uid ", getuid()));
    }
    return file;
  }

  // The PEM text of a certificate file (checked to hold a certificate).
  absl::StatusOr<std::string> CertificatePem(const YAML::Node& node,
                                             const std::string& path) const {
    auto file = CertificateFile(node, path);
    if (!file.ok()) return file;
    return ReadFileToString(*file);
  }

  // A readable file that holds at least one PEM certificate.
  absl::StatusOr<std::string> CertificateFile(const YAML::Node& node,
                                              const std::string& path) const {
    return PemFile(node, path, "certificate", [](const std::string& data) {
      BioPtr bio = MemoryBio(data);
      return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) != nullptr;
    });
  }

  // A readable file that holds a PEM private key (its content is never echoed).
  absl::StatusOr<std::string> PrivateKeyFile(const YAML::Node& node,
                                             const std::string& path) const {
    return PemFile(node, path, "private key", [](const std::string& data) {
      BioPtr bio = MemoryBio(data);
      return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) != nullptr;
    });
  }

  // The path at `path`, a readable file in which `holds` finds a PEM `what`.
  template <typename Holds>
  absl::StatusOr<std::string> PemFile(const YAML::Node& node, const std::string& path,
                                      absl::string_view what, Holds holds) const {
    auto file = NonEmptyString(node, path);
    if (!file.ok()) return file;
    auto data = ReadFileToString(*file);
    if (!data.ok()) return FileError(node, path, *file, data.status());
    if (!holds(*data)) {
      return Error(node, path, absl::StrCat("file \"", *file, "\" holds no PEM ", what));
    }
    return file;
  }

 private:
  absl::Status FileError(const YAML::Node& node, const std::string& path, const std::string& file,
                         const absl::Status& status) const {
    if (absl::IsNotFound(status)) {
      return Error(node, path, absl::StrCat("file \"", file, "\" does not exist"));
    }
    if (absl::IsPermissionDenied(status)) {
      return Error(node, path,
                   absl::StrCat("file \"", file, "\" is not readable by uid ", getuid()));
    }
    return Error(node, path, status.message());
  }
};

// "source:line:col" of `node`: where something is declared, for log lines and messages that
// point at a second place.
std::string Where(const Reader& r, const YAML::Node& node);

// The sections of the configuration file; each names what is wrong by file:line:col and path.
absl::StatusOr<TokenDefaults> ParseTokenDefaults(const Reader& r, const YAML::Node& node,
                                                 const std::string& path);
absl::StatusOr<ClusterConfig> ParseCluster(const Reader& r, const YAML::Node& node,
                                           const std::string& path);
absl::StatusOr<DeclaredAccounts> ParseAccounts(const Reader& r, const YAML::Node& node,
                                               const std::vector<ClusterConfig>& clusters);
absl::StatusOr<AuthorizationConfig> ParseAuthorization(const Reader& r, const YAML::Node& node);
absl::StatusOr<AuditConfig> ParseAudit(const Reader& r, const YAML::Node& node);
absl::StatusOr<LimitsConfig> ParseLimits(const Reader& r, const YAML::Node& node);

}  // namespace kcred::config::internal
