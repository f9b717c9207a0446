#include "daemon/kube/credential.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <istream>
#include <streambuf>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "yaml-cpp/yaml.h"

namespace kcred::kube {
namespace {

class StaticCredential final : public Credential {
 public:
  StaticCredential(AuthMaterial material, std::string description)
      : material_(std::move(material)), description_(std::move(description)) {}
  absl::StatusOr<AuthMaterial> Get() override { return material_; }
  bool Refresh() override { return false; }
  std::string Description() const override { return description_; }

 private:
  const AuthMaterial material_;
  const std::string description_;
};

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string ResolveRelative(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

// The named entry of a kubeconfig list (clusters, users, contexts), or a null node.
YAML::Node FindNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const YAML::Node& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry;
  }
  return YAML::Node();
}

std::string StringField(const YAML::Node& node, const char* key) {
  if (!node || !node[key]) return "";
  return node[key].as<std::string>();
}

absl::StatusOr<SecretString> DecodeData(const SecretString& base64, const std::string& what) {
  std::string decoded;
  if (!absl::Base64Unescape(base64.Reveal(), &decoded)) {
    WipeString(decoded);
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid base64"));
  }
  return SecretString(std::move(decoded));
}

// The PEM from `<key>-data` (base64) or the file `<key>`; empty when neither is set. Held as a
// secret because for client-key it is one.
absl::StatusOr<SecretString> DataOrFile(const YAML::Node& node, const std::string& key,
                                        const std::string& base_dir, const std::string& where) {
  SecretString data(StringField(node, (key + "-data").c_str()));
  if (!data.empty()) return DecodeData(data, absl::StrCat(where, ": ", key, "-data"));
  std::string file = StringField(node, key.c_str());
  if (file.empty()) return SecretString();
  absl::StatusOr<SecretString> contents = ReadSecretFile(ResolveRelative(base_dir, file));
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat(where, ": ", key, ": ", contents.status().message()));
  }
  return contents;
}

absl::StatusOr<KubeconfigTarget> ParseKubeconfig(const std::string& path, const YAML::Node& root,
                                                 const std::string& wanted_context) {
  const std::string base_dir = DirName(path);
  KubeconfigTarget target;
  target.context = wanted_context.empty() ? StringField(root, "current-context") : wanted_context;
  if (target.context.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", path, ": no context given and no current-context set; name a context"));
  }
  YAML::Node context = FindNamed(root["contexts"], target.context);
  if (!context || !context["context"]) {
    return absl::NotFoundError(
        absl::StrCat("kubeconfig ", path, ": context \"", target.context, "\" not found"));
  }
  std::string cluster_name = StringField(context["context"], "cluster");
  std::string user_name = StringField(context["context"], "user");
  YAML::Node cluster = FindNamed(root["clusters"], cluster_name);
  if (!cluster || !cluster["cluster"]) {
    return absl::NotFoundError(absl::StrCat("kubeconfig ", path, ": cluster \"", cluster_name,
                                            "\" of context \"", target.context, "\" not found"));
  }
  const std::string cluster_where =
      absl::StrCat("kubeconfig ", path, ": cluster \"", cluster_name, "\"");
  target.server = StringField(cluster["cluster"], "server");
  if (target.server.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cluster_where, " has no server"));
  }
  if (cluster["cluster"]["insecure-skip-tls-verify"] &&
      cluster["cluster"]["insecure-skip-tls-verify"].as<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(
        cluster_where,
        " sets insecure-skip-tls-verify; kcredd always verifies the API server, give its CA"));
  }
  absl::StatusOr<SecretString> ca =
      DataOrFile(cluster["cluster"], "certificate-authority", base_dir, cluster_where);
  if (!ca.ok()) return ca.status();
  target.ca_pem = ca->Reveal();

  YAML::Node user = FindNamed(root["users"], user_name);
  const std::string user_where = absl::StrCat("kubeconfig ", path, ": user \"", user_name, "\"");
  if (!user || !user["user"]) {
    return absl::NotFoundError(
        absl::StrCat(user_where, " of context \"", target.context, "\" not found"));
  }
  const YAML::Node& u = user["user"];
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (u[unsupported]) {
      return absl::InvalidArgumentError(
          absl::StrCat(user_where, " uses ", unsupported,
                       ", which kcredd does not support; use token, tokenFile or a client "
                       "certificate"));
    }
  }
  SecretString token(StringField(u, "token"));
  std::string token_file = StringField(u, "tokenFile");
  absl::StatusOr<SecretString> cert = DataOrFile(u, "client-certificate", base_dir, user_where);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<SecretString> key = DataOrFile(u, "client-key", base_dir, user_where);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        user_where, " has a client certificate without its key (or a key without certificate)"));
  }
  if (!cert->empty()) {
    target.credential = MakeClientCertificateCredential(
        ClientCertificate{cert->Reveal(), std::move(*key)}, std::move(token));
  } else if (!token.empty()) {
    target.credential = MakeStaticTokenCredential(std::move(token));
  } else if (!token_file.empty()) {
    target.credential =
        std::make_shared<TokenFileCredential>(ResolveRelative(base_dir, token_file));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(user_where,
                     " has no credential; give token, tokenFile or client-certificate-data and "
                     "client-key-data"));
  }
  return target;
}

// yaml-cpp keeps a copy of every scalar in its node tree, and users' entries hold tokens and
// keys: wipe those copies before the tree is freed. The strings are the nodes' own (non-const)
// members, which yaml-cpp only hands out as const references.
void WipeUserScalars(const YAML::Node& root) {
  if (!root.IsMap()) return;
  const YAML::Node users = root["users"];
  if (!users.IsSequence()) return;
  for (const YAML::Node& entry : users) {
    const YAML::Node user = entry.IsMap() ? entry["user"] : YAML::Node();
    if (!user.IsMap()) continue;
    for (const auto& field : user) {
      if (field.second.IsScalar()) WipeString(const_cast<std::string&>(field.second.Scalar()));
    }
  }
}

// Lets yaml-cpp read a string in place: YAML::Load(std::string) would first copy the whole
// kubeconfig into a stringstream that is freed unwiped.
class InPlaceStreamBuf final : public std::streambuf {
 public:
  explicit InPlaceStreamBuf(const std::string& text) {
    // The get area is only read from.
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

}  // namespace

CredentialPtr MakeStaticTokenCredential(SecretString token) {
  AuthMaterial material;
  material.bearer_token = std::move(token);
  return std::make_shared<StaticCredential>(std::move(material), "static token");
}

CredentialPtr MakeClientCertificateCredential(ClientCertificate cert, SecretString token) {
  AuthMaterial material;
  material.bearer_token = std::move(token);
  material.client_cert = std::move(cert);
  return std::make_shared<StaticCredential>(std::move(material), "client certificate");
}

absl::StatusOr<SecretString> TokenFileCredential::Load(bool force) {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    int err = errno;
    return absl::UnavailableError(absl::StrCat("token file ", path_, ": ", std::strerror(err),
                                               "; check the cluster's credential in the config"));
  }
  FileId id{st.st_ino, st.st_size,
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  {
    absl::MutexLock lock(&mu_);
    if (!force && loaded_id_.has_value() && *loaded_id_ == id) return token_;
  }
  // Read outside the lock; concurrent readers may both read, which is harmless.
  absl::StatusOr<SecretString> contents = ReadSecretFile(path_);
  if (!contents.ok()) {
    return absl::UnavailableError(
        absl::StrCat("token file ", path_, ": ", contents.status().message()));
  }
  SecretString token(std::string(absl::StripAsciiWhitespace(contents->Reveal())));
  if (token.empty()) {
    return absl::UnavailableError(
        absl::StrCat("token file ", path_, " is empty; it should hold kcredd's bearer token"));
  }
  absl::MutexLock lock(&mu_);
  loaded_id_ = id;
  token_ = std::move(token);
  return token_;
}

absl::StatusOr<AuthMaterial> TokenFileCredential::Get() {
  absl::StatusOr<SecretString> token = Load(/*force=*/false);
  if (!token.ok()) return token.status();
  AuthMaterial material;
  material.bearer_token = std::move(*token);
  return material;
}

bool TokenFileCredential::Refresh() {
  SecretString before;
  {
    absl::MutexLock lock(&mu_);
    before = token_;
  }
  absl::StatusOr<SecretString> after = Load(/*force=*/true);
  return after.ok() && *after != before;
}

absl::StatusOr<KubeconfigTarget> LoadKubeconfig(const std::string& path,
                                                const std::string& context) {
  absl::StatusOr<SecretString> contents = ReadSecretFile(path);
  if (!contents.ok()) return contents.status();
  try {
    InPlaceStreamBuf buffer(contents->Reveal());
    std::istream stream(&buffer);
    YAML::Node root = YAML::Load(stream);
    absl::Cleanup wipe = [&root] { WipeUserScalars(root); };
    return ParseKubeconfig(path, root, context);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's messages quote positions, not values, so no secret is echoed.
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

}  // namespace kcred::kube
