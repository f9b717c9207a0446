// Shows kcredd serving health over its unix socket and over mTLS, refusing plaintext TCP and bad
// configs, and stopping cleanly, all driven through the real `kcred` binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pki.h"
#include "tests/support/process.h"
#include "tests/support/test_pki.h"

namespace kcred {
namespace {

using testing::BinaryPath;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::ProcessOptions;
using testing::RunResult;
using testing::TempDir;

class KcreddServingTest : public ::testing::Test {
 protected:
  // Starts kcredd with `args` and waits until it has written its ready file.
  std::unique_ptr<Process> StartKcredd(std::vector<std::string> args,
                                       nlohmann::json* ready = nullptr) {
    const std::string ready_file = dir_.File(absl::StrCat("ready-", starts_++));
    std::vector<std::string> argv = {BinaryPath("kcredd"), "--ready_file", ready_file};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.argv = argv;
    // kcredd keeps the validated copies of its TLS files (what gRPC reads) in
    // $RUNTIME_DIRECTORY/tls.
    options.env = {{"RUNTIME_DIRECTORY", dir_.File("run")}};
    options.stdout_file = dir_.File("kcredd.log");
    auto process = Process::Start(options);
    EXPECT_TRUE(process.ok());
    auto content = testing::WaitForFile(ready_file, std::chrono::seconds(20));
    EXPECT_TRUE(content.ok()) << "kcredd did not become ready; log:\n" << Log();
    if (ready != nullptr && content.ok()) *ready = nlohmann::json::parse(*content);
    return process.ok() ? std::move(*process) : nullptr;
  }

  RunResult Kcred(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("kcred"));
    return testing::Run(args, {{"KCRED_SERVER", ""}}, std::chrono::seconds(30));
  }

  std::string Log() { return testing::ReadFile(dir_.File("kcredd.log")).value_or(""); }

  // ca.crt, tls.crt/tls.key and client.crt/client.key (CN ci-runner) of one CA; stranger.crt/key,
  // a client of another CA (other-ca.crt); renewed.crt/key, a server certificate of that CA.
  void WritePki() {
    ASSERT_TRUE(testing::WriteTestPki(dir_.path(), {{"client", "ci-runner", {}, {}}}).ok());
    auto other_ca = testing::TestCa("another CA");
    ASSERT_TRUE(other_ca.ok());
    auto stranger = testing::TestClientCert(*other_ca, {"stranger", "ci-runner", {}, {}});
    auto renewed = testing::TestServerCert(*other_ca);
    ASSERT_TRUE(stranger.ok() && renewed.ok());
    for (const auto& [name, data] :
         std::vector<std::pair<std::string, std::string>>{{"stranger.crt", stranger->cert_pem},
                                                          {"stranger.key", stranger->key_pem},
                                                          {"other-ca.crt", other_ca->cert_pem},
                                                          {"renewed.crt", renewed->cert_pem},
                                                          {"renewed.key", renewed->key_pem}}) {
      ASSERT_TRUE(testing::WriteFile(dir_.File(name), data, 0600).ok());
    }
  }

  // A config serving only TCP with mTLS (tls.crt, tls.key, client CA ca.crt); returns its path.
  std::string WriteTlsConfig() {
    const std::string config = dir_.File("kcredd.yaml");
    EXPECT_TRUE(
        testing::WriteFile(
            config,
            absl::StrCat("listen:\n  unix: false\n  tcp:\n    address: 127.0.0.1:0\n    tls:\n",
                         "      cert_file: ", dir_.File("tls.crt"),
                         "\n      key_file: ", dir_.File("tls.key"),
                         "\n      client_ca_file: ", dir_.File("ca.crt"), "\n"))
            .ok());
    return config;
  }

  TempDir dir_;
  int starts_ = 0;
};

// kcredd serves health and version on its unix socket (0660) and removes it when it stops.
TEST_F(KcreddServingTest, UnixSocketServesHealthAndStopsCleanly) {
  const std::string socket = dir_.File("kcredd.sock");
  auto kcredd = StartKcredd({"--socket", socket});
  ASSERT_NE(kcredd, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  RunResult health = Kcred({"health", "--server", "unix:" + socket});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(health.out, "SERVING\n");

  RunResult broker =
      Kcred({"health", "--service", "kcred.v1.CredentialBroker", "--server", "unix:" + socket});
  EXPECT_EQ(broker.exit_code, 0) << broker.err;

  RunResult version = Kcred({"version", "--server", "unix:" + socket});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("kcred 0.1.0\nkcredd 0.1.0 at unix:" + socket));
  EXPECT_THAT(version.out, HasSubstr(absl::StrCat("you are unix:uid:", getuid())));

  EXPECT_EQ(kcredd->Stop(), 0) << Log();
  EXPECT_NE(access(socket.c_str(), F_OK), 0) << "socket file left behind";
  EXPECT_THAT(Log(), HasSubstr("stopped"));
}

// A socket file left by a dead server is replaced; a second kcredd on a live one exits 1.
TEST_F(KcreddServingTest, StaleSocketIsReplacedButALiveOneIsNot) {
  const std::string socket = dir_.File("kcredd.sock");
  // A socket file whose server is gone, as after kill -9.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);

  auto kcredd = StartKcredd({"--socket", socket});
  ASSERT_NE(kcredd, nullptr);
  EXPECT_THAT(Log(), HasSubstr("removed stale socket"));
  EXPECT_EQ(Kcred({"health", "--server", "unix:" + socket}).exit_code, 0);

  RunResult second =
      testing::Run({BinaryPath("kcredd"), "--socket", socket}, {}, std::chrono::seconds(20));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("another server is already listening on " + socket));
  EXPECT_EQ(Kcred({"health", "--server", "unix:" + socket}).exit_code, 0)
      << "first kcredd disturbed";
}

// Over mTLS only clients with a certificate of the configured CA get in, and know kcredd's CA.
TEST_F(KcreddServingTest, MutualTlsAcceptsOnlyClientsOfItsCa) {
  WritePki();
  const std::string config = WriteTlsConfig();
  nlohmann::json ready;
  auto kcredd = StartKcredd({"--config", config}, &ready);
  ASSERT_NE(kcredd, nullptr);
  const std::string server = absl::StrCat("127.0.0.1:", ready["tcp_port"].get<int>());

  RunResult ok = Kcred({"health", "--server", server, "--ca", dir_.File("ca.crt"), "--cert",
                        dir_.File("client.crt"), "--key", dir_.File("client.key")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "SERVING\n");

  RunResult who = Kcred({"version", "--server", server, "--ca", dir_.File("ca.crt"), "--cert",
                         dir_.File("client.crt"), "--key", dir_.File("client.key")});
  EXPECT_THAT(who.out, HasSubstr("you are x509:cn:ci-runner"));

  RunResult no_cert =
      Kcred({"health", "--timeout", "5s", "--server", server, "--ca", dir_.File("ca.crt")});
  EXPECT_EQ(no_cert.exit_code, 1);
  EXPECT_EQ(no_cert.out, "");

  RunResult other_ca =
      Kcred({"health", "--timeout", "5s", "--server", server, "--ca", dir_.File("ca.crt"), "--cert",
             dir_.File("stranger.crt"), "--key", dir_.File("stranger.key")});
  EXPECT_EQ(other_ca.exit_code, 1);
  EXPECT_EQ(other_ca.out, "");

  RunResult wrong_server_ca = Kcred({"health", "--timeout", "5s", "--server", server, "--cert",
                                     dir_.File("client.crt"), "--key", dir_.File("client.key")});
  EXPECT_EQ(wrong_server_ca.exit_code, 1) << "a server cert from an unknown CA must be refused";

  EXPECT_EQ(kcredd->Stop(), 0);
}

// SIGHUP re-reads the TLS files for new handshakes; a broken key is refused and the certificate
// that serves stays.
TEST_F(KcreddServingTest, SighupReloadsTheTlsFilesAndRefusesBrokenOnes) {
  WritePki();
  const std::string config = WriteTlsConfig();
  nlohmann::json ready;
  auto kcredd = StartKcredd({"--config", config}, &ready);
  ASSERT_NE(kcredd, nullptr);
  const std::string server = absl::StrCat("127.0.0.1:", ready["tcp_port"].get<int>());
  auto health = [&](const std::string& server_ca) {
    return Kcred({"health", "--timeout", "5s", "--server", server, "--ca", dir_.File(server_ca),
                  "--cert", dir_.File("client.crt"), "--key", dir_.File("client.key")})
        .exit_code;
  };
  ASSERT_EQ(health("ca.crt"), 0) << Log();

  // The certificate is renewed in place (by another CA, so a client can tell which one it got).
  ASSERT_TRUE(
      testing::WriteFile(dir_.File("tls.crt"), *testing::ReadFile(dir_.File("renewed.crt")), 0600)
          .ok());
  ASSERT_TRUE(
      testing::WriteFile(dir_.File("tls.key"), *testing::ReadFile(dir_.File("renewed.key")), 0600)
          .ok());
  kcredd->Signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (health("other-ca.crt") != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(health("other-ca.crt"), 0) << "new handshakes must use the renewed certificate\n"
                                       << Log();
  EXPECT_NE(health("ca.crt"), 0);
  EXPECT_THAT(Log(), HasSubstr("configuration reloaded: TLS files re-read"));

  // A broken key is refused; the renewed certificate keeps serving.
  ASSERT_TRUE(testing::WriteFile(dir_.File("tls.key"), "not a key\n", 0600).ok());
  kcredd->Signal(SIGHUP);
  ASSERT_TRUE(
      testing::WaitForText(dir_.File("kcredd.log"), "reload refused", 1, std::chrono::seconds(30)))
      << Log();
  EXPECT_THAT(Log(), HasSubstr("reload refused, still running the previous configuration: "));
  EXPECT_THAT(Log(), HasSubstr("listen.tcp.tls.key_file: file \"" + dir_.File("tls.key") + "\""));
  EXPECT_THAT(Log(), Not(HasSubstr("not a key")));
  // The refused key never reached kcredd's copies, the only files gRPC's watcher re-reads, so no
  // later refresh can load it; the renewed certificate keeps serving.
  EXPECT_EQ(testing::ReadFile(dir_.File("run/tls/current/tls.key")).value_or("<missing>"),
            testing::ReadFile(dir_.File("renewed.key")).value_or(""));
  EXPECT_EQ(health("other-ca.crt"), 0) << Log();
  EXPECT_EQ(kcredd->Stop(), 0);
}

// Plaintext TCP needs --insecure and allow_anonymous: true in the file.
TEST_F(KcreddServingTest, PlaintextTcpNeedsInsecureFlag) {
  const std::string config = dir_.File("kcredd.yaml");
  ASSERT_TRUE(
      testing::WriteFile(config, "listen:\n  unix: false\n  tcp:\n    address: 127.0.0.1:0\n")
          .ok());
  RunResult refused =
      testing::Run({BinaryPath("kcredd"), "--config", config}, {}, std::chrono::seconds(20));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("kcredd refuses plaintext TCP"));
  // Plaintext identifies nobody: kcredd serves anonymous callers only when the file says so.
  RunResult anonymous = testing::Run({BinaryPath("kcredd"), "--config", config, "--insecure"}, {},
                                     std::chrono::seconds(20));
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, HasSubstr("set listen.tcp.allow_anonymous: true"));
  ASSERT_TRUE(testing::WriteFile(config,
                                 "listen:\n  unix: false\n  tcp:\n    address: 127.0.0.1:0\n"
                                 "    allow_anonymous: true\n")
                  .ok());

  nlohmann::json ready;
  auto kcredd = StartKcredd({"--config", config, "--insecure"}, &ready);
  ASSERT_NE(kcredd, nullptr);
  EXPECT_THAT(Log(), HasSubstr("serving PLAINTEXT gRPC"));
  EXPECT_THAT(Log(), HasSubstr("are served as \"anonymous\""));
  const std::string server = absl::StrCat("127.0.0.1:", ready["tcp_port"].get<int>());
  RunResult health = Kcred({"health", "--insecure", "--server", server});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(kcredd->Stop(), 0);
}

// check-config (and serving) name the file, line and column of a mistake; unknown commands exit 2.
TEST_F(KcreddServingTest, CheckConfigNamesFileLineAndColumn) {
  const std::string bad = dir_.File("bad.yaml");
  ASSERT_TRUE(testing::WriteFile(bad,
                                 "log:\n  level: info\nlisten:\n  tcp:\n    address: 127.0.0.1:1\n"
                                 "    tls:\n      cert_file: /x.pem\n      key_file: /y.pem\n")
                  .ok());
  RunResult result = testing::Run({BinaryPath("kcredd"), "check-config", "--config", bad});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, bad + ":7:18: listen.tcp.tls.cert_file: file \"/x.pem\" does not exist\n");

  RunResult serve = testing::Run({BinaryPath("kcredd"), "--config", bad});
  EXPECT_EQ(serve.exit_code, 1);
  EXPECT_THAT(serve.err, HasSubstr(":7:18: listen.tcp.tls.cert_file"));

  const std::string good = dir_.File("good.yaml");
  ASSERT_TRUE(testing::WriteFile(good, "log:\n  level: debug\n").ok());
  RunResult ok = testing::Run({BinaryPath("kcredd"), "check-config", "--config", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, good +
                        ": OK (0 clusters, 0 declared accounts; authorization: default policy: "
                        "root only)\n");

  RunResult usage = testing::Run({BinaryPath("kcredd"), "frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("unknown command \"frobnicate\""));
}

// SIGINT stops kcredd cleanly, like SIGTERM.
TEST_F(KcreddServingTest, SigintAlsoStopsCleanly) {
  const std::string socket = dir_.File("kcredd.sock");
  auto kcredd = StartKcredd({"--socket", socket});
  ASSERT_NE(kcredd, nullptr);
  kcredd->Signal(SIGINT);
  auto code = kcredd->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_NE(access(socket.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace kcred
