#include "daemon/kube/credential.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kcred::kube {
namespace {

class CredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/kcred-cred-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::trunc) << contents;
    files_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

// The token file's content is trimmed; a missing or empty file says which file and what to do.
TEST_F(CredentialTest, TokenFile) {
  std::string path = Write("token", "  abc.def\n");
  TokenFileCredential credential(path);
  absl::StatusOr<AuthMaterial> material = credential.Get();
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(material->bearer_token.Reveal(), "abc.def");
  EXPECT_FALSE(material->client_cert.has_value());
  EXPECT_FALSE(credential.Refresh()) << "unchanged file";

  Write("token", "\n");
  absl::StatusOr<AuthMaterial> empty = credential.Get();
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(empty.status().message(), path));

  TokenFileCredential missing(dir_ + "/absent");
  absl::StatusOr<AuthMaterial> gone = missing.Get();
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(gone.status().message(), "absent"));
  EXPECT_TRUE(absl::StrContains(missing.Description(), "absent"));
}

std::string Kubeconfig(const std::string& user_block) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
         "clusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443\n"
         "    certificate-authority-data: " +
         absl::Base64Escape("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n") +
         "\ncontexts:\n- name: main\n  context:\n    cluster: c1\n    user: u1\n"
         "- name: other\n  context:\n    cluster: c1\n    user: nobody\n"
         "users:\n- name: u1\n  user:\n" +
         user_block;
}

// A static token from the current context, with server and CA.
TEST_F(CredentialTest, KubeconfigToken) {
  std::string path = Write("config", Kubeconfig("    token: kubeconfig-token\n"));
  absl::StatusOr<KubeconfigTarget> target = LoadKubeconfig(path, "");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->context, "main");
  EXPECT_EQ(target->server, "https://10.0.0.1:6443");
  EXPECT_TRUE(absl::StartsWith(target->ca_pem, "-----BEGIN CERTIFICATE-----"));
  absl::StatusOr<AuthMaterial> material = target->credential->Get();
  ASSERT_TRUE(material.ok());
  EXPECT_EQ(material->bearer_token.Reveal(), "kubeconfig-token");
}

// tokenFile is resolved against the kubeconfig's directory and re-read like a token file.
TEST_F(CredentialTest, KubeconfigTokenFile) {
  Write("sa-token", "from-file");
  std::string path = Write("config", Kubeconfig("    tokenFile: sa-token\n"));
  absl::StatusOr<KubeconfigTarget> target = LoadKubeconfig(path, "main");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->credential->Get()->bearer_token.Reveal(), "from-file");
  Write("sa-token", "rotated-token");
  EXPECT_EQ(target->credential->Get()->bearer_token.Reveal(), "rotated-token");
}

// client-certificate-data and client-key-data give an mTLS credential.
TEST_F(CredentialTest, KubeconfigClientCertificate) {
  std::string path =
      Write("config", Kubeconfig("    client-certificate-data: " + absl::Base64Escape("CERT PEM") +
                                 "\n    client-key-data: " + absl::Base64Escape("KEY PEM") + "\n"));
  absl::StatusOr<KubeconfigTarget> target = LoadKubeconfig(path, "");
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<AuthMaterial> material = target->credential->Get();
  ASSERT_TRUE(material->client_cert.has_value());
  EXPECT_EQ(material->client_cert->cert_pem, "CERT PEM");
  EXPECT_EQ(material->client_cert->key_pem.Reveal(), "KEY PEM");
  EXPECT_TRUE(material->bearer_token.empty());
}

// client-certificate and client-key name files, relative to the kubeconfig's directory.
TEST_F(CredentialTest, KubeconfigClientCertificateFiles) {
  Write("client.crt", "CERT FROM FILE");
  Write("client.key", "KEY FROM FILE");
  std::string path = Write(
      "config", Kubeconfig("    client-certificate: client.crt\n    client-key: client.key\n"));
  absl::StatusOr<KubeconfigTarget> target = LoadKubeconfig(path, "");
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<AuthMaterial> material = target->credential->Get();
  ASSERT_TRUE(material->client_cert.has_value());
  EXPECT_EQ(material->client_cert->cert_pem, "CERT FROM FILE");
  EXPECT_EQ(material->client_cert->key_pem.Reveal(), "KEY FROM FILE");
}

// Unsupported or unsafe kubeconfigs are refused with a message naming the problem.
TEST_F(CredentialTest, KubeconfigErrors) {
  std::string exec = Write("exec", Kubeconfig("    exec:\n      command: gke-auth\n"));
  absl::StatusOr<KubeconfigTarget> target = LoadKubeconfig(exec, "");
  EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(target.status().message(), "exec")) << target.status();

  std::string ok = Write("ok", Kubeconfig("    token: t\n"));
  EXPECT_EQ(LoadKubeconfig(ok, "missing").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<KubeconfigTarget> no_user = LoadKubeconfig(ok, "other");
  EXPECT_EQ(no_user.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(no_user.status().message(), "nobody"));

  std::string insecure =
      Write("insecure",
            "current-context: a\nclusters:\n- name: c\n  cluster:\n    server: https://x\n"
            "    insecure-skip-tls-verify: true\ncontexts:\n- name: a\n  context:\n"
            "    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n");
  absl::StatusOr<KubeconfigTarget> skip = LoadKubeconfig(insecure, "");
  EXPECT_EQ(skip.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(skip.status().message(), "insecure-skip-tls-verify"));

  // A value of the wrong type, found after parsing, and a document that is not a mapping.
  std::string typed =
      Write("typed",
            "current-context: a\nclusters:\n- name: c\n  cluster:\n    server: https://x\n"
            "    insecure-skip-tls-verify: maybe\ncontexts:\n- name: a\n  context:\n"
            "    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n");
  EXPECT_EQ(LoadKubeconfig(typed, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadKubeconfig(Write("scalar", "just text\n"), "").status().code(),
            absl::StatusCode::kInvalidArgument);

  std::string broken = Write("broken", "clusters: [\n");
  absl::StatusOr<KubeconfigTarget> bad = LoadKubeconfig(broken, "");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "line")) << bad.status();
}

}  // namespace
}  // namespace kcred::kube
