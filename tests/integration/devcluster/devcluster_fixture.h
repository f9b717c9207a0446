#pragma once
// A kcred-devcluster process started for each test, with kubectl run against it as the admin or
// with a kubeconfig holding only a token.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/process.h"

namespace kcred::devcluster::testing {

inline constexpr char kKubectl[] = "/usr/bin/kubectl";
inline constexpr auto kStartTimeout = std::chrono::seconds(20);

// Starts kcred-devcluster on 127.0.0.1, port 0, with a data directory in a temporary directory;
// the server is stopped when the test ends.
class DevClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kKubectl)) << "this test needs " << kKubectl;
    data_dir_ = tmp_.File("data");
    Start();
  }

  void Start(std::vector<std::string> extra_flags = {}) {
    std::remove(tmp_.File("data/address").c_str());
    kcred::testing::ProcessOptions options;
    options.argv = {kcred::testing::BinaryPath("kcred-devcluster"), "--listen=127.0.0.1:0",
                    "--data-dir=" + data_dir_, "--log-level=warn"};
    for (std::string& flag : extra_flags) options.argv.push_back(std::move(flag));
    options.stdout_file = tmp_.File("devcluster.log");
    absl::StatusOr<std::unique_ptr<kcred::testing::Process>> process =
        kcred::testing::Process::Start(options);
    ASSERT_TRUE(process.ok()) << process.status();
    server_ = *std::move(process);
    absl::StatusOr<std::string> address =
        kcred::testing::WaitForFile(data_dir_ + "/address", kStartTimeout);
    ASSERT_TRUE(address.ok()) << address.status();
    address_ = std::string(absl::StripAsciiWhitespace(*address));
    admin_ = data_dir_ + "/admin.kubeconfig";
  }

  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << "kcred-devcluster did not stop cleanly";
    }
  }

  kcred::testing::RunResult Kubectl(const std::string& kubeconfig, std::vector<std::string> args,
                                    const std::string& stdin_data = "") {
    std::vector<std::string> argv = {kKubectl, "--kubeconfig", kubeconfig};
    for (std::string& arg : args) argv.push_back(std::move(arg));
    return kcred::testing::Run(argv, {{"HOME", tmp_.path()}, {"KUBECONFIG", ""}},
                               std::chrono::seconds(30), stdin_data);
  }

  // kubectl as the cluster admin; the command must succeed.
  std::string Admin(std::vector<std::string> args, const std::string& stdin_data = "") {
    std::string joined = absl::StrJoin(args, " ");
    kcred::testing::RunResult r = Kubectl(admin_, std::move(args), stdin_data);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << joined << ": " << r.err;
    return r.out;
  }

  // A kubeconfig that holds only `token`.
  std::string TokenKubeconfig(const std::string& name, const std::string& token) {
    std::string path = tmp_.File(name + ".kubeconfig");
    std::string text = absl::StrCat(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster:\n    server: https://",
        address_, "\n    certificate-authority: ", data_dir_,
        "/ca.crt\nusers:\n- name: u\n  user:\n    token: ", token,
        "\ncontexts:\n- name: ctx\n  context:\n    cluster: dev\n    user: u\n"
        "current-context: ctx\n");
    EXPECT_TRUE(kcred::testing::WriteFile(path, text, 0600).ok());
    return path;
  }

  // The admin token, as written in the data dir.
  std::string AdminToken() {
    absl::StatusOr<std::string> token = kcred::testing::ReadFile(data_dir_ + "/admin.token");
    EXPECT_TRUE(token.ok());
    return std::string(absl::StripAsciiWhitespace(token.value_or("")));
  }

  std::unique_ptr<httplib::SSLClient> HttpClient() {
    std::vector<std::string> parts = absl::StrSplit(address_, ':');
    auto client = std::make_unique<httplib::SSLClient>(parts[0], std::stoi(parts[1]));
    client->set_ca_cert_path((data_dir_ + "/ca.crt").c_str());
    client->enable_server_certificate_verification(true);
    return client;
  }

  kcred::testing::TempDir tmp_;
  std::string data_dir_;
  std::string address_;
  std::string admin_;
  std::unique_ptr<kcred::testing::Process> server_;
};

}  // namespace kcred::devcluster::testing
