// kcredd's configuration policy: which file is read, what the command line overrides, what kcredd
// refuses to serve, the authorization policy and audit sink of a configuration, and check-config.
#include "daemon/app/kcredd_config.h"

#include <unistd.h>

#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace kcred::app {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPlaintextTcp[] = "listen:\n  unix: false\n  tcp:\n    address: 127.0.0.1:0\n";

class KcreddConfigTest : public ::testing::Test {
 protected:
  // Flags naming <dir>/kcredd.yaml holding `yaml`; the default path points nowhere.
  ConfigFlags FlagsFor(const std::string& yaml) {
    EXPECT_TRUE(kcred::testing::WriteFile(path_, yaml).ok());
    ConfigFlags flags;
    flags.config_path = path_;
    flags.default_config_path = dir_.File("absent.yaml");
    return flags;
  }

  kcred::testing::TempDir dir_;
  const std::string path_ = dir_.File("kcredd.yaml");
};

// Without --config and without the default file kcredd runs on the built-in defaults; --socket
// replaces the unix socket's path.
TEST_F(KcreddConfigTest, DefaultsWhenNoFileExists) {
  ConfigFlags flags;
  flags.default_config_path = dir_.File("absent.yaml");
  flags.socket = dir_.File("kcredd.sock");
  auto config = LoadKcreddConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "");
  EXPECT_EQ(config->listen.unix_socket->path, dir_.File("kcredd.sock"));
}

// Without --config the default file is read when it exists.
TEST_F(KcreddConfigTest, ReadsTheDefaultFileWhenItExists) {
  ASSERT_TRUE(kcred::testing::WriteFile(path_, "log:\n  level: debug\n").ok());
  ConfigFlags flags;
  flags.default_config_path = path_;
  auto config = LoadKcreddConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path_);
  EXPECT_EQ(config->log.level, spdlog::level::debug);
}

// --log_level and --log_format override the file; a bad value names the flag.
TEST_F(KcreddConfigTest, LogFlagsOverrideTheFile) {
  ConfigFlags flags = FlagsFor("log:\n  level: debug\n");
  flags.log_level = "warn";
  auto config = LoadKcreddConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log.level, spdlog::level::warn);

  flags.log_format = "fancy";
  EXPECT_THAT(std::string(LoadKcreddConfig(flags).status().message()),
              StartsWith("--log_format: "));
}

// Plaintext TCP needs --insecure and then listen.tcp.allow_anonymous as well.
TEST_F(KcreddConfigTest, PlaintextTcpNeedsInsecureAndAllowAnonymous) {
  ConfigFlags flags = FlagsFor(kPlaintextTcp);
  EXPECT_THAT(LoadKcreddConfig(flags).status().message(),
              HasSubstr("kcredd refuses plaintext TCP"));
  flags.insecure = true;
  EXPECT_THAT(LoadKcreddConfig(flags).status().message(),
              HasSubstr("set listen.tcp.allow_anonymous: true"));
  flags = FlagsFor(absl::StrCat(kPlaintextTcp, "    allow_anonymous: true\n"));
  flags.insecure = true;
  EXPECT_TRUE(LoadKcreddConfig(flags).ok());
}

// The audit log defaults to <state_dir>/audit.log; the journal sink is chosen by the file.
TEST_F(KcreddConfigTest, AuditOptionsFollowTheAuditSection) {
  config::Config config = config::DefaultConfig();
  config.state_dir = "/var/lib/kcred-test";
  EXPECT_EQ(AuditOptions(config).path, "/var/lib/kcred-test/audit.log");
  EXPECT_EQ(AuditOptions(config).kind, audit::AuditSinkOptions::Kind::kFile);
  config.audit.sink = config::AuditConfig::Sink::kJournal;
  EXPECT_EQ(AuditOptions(config).kind, audit::AuditSinkOptions::Kind::kJournal);
}

// Dev mode lets only the user who started kcredd in; otherwise the file's rules or the default.
TEST_F(KcreddConfigTest, PolicyForDevModeAndFiles) {
  config::Config config = config::DefaultConfig();
  EXPECT_EQ(PolicyFor(config, true).description(),
            absl::StrCat("dev mode: uid ", getuid(), " only"));
  EXPECT_THAT(PolicyFor(config, false).description(), StartsWith("default policy: root"));
}

// check-config: 0 and a summary for a valid file, 1 and the error for a broken one, 2 without
// --config.
TEST_F(KcreddConfigTest, CheckConfigExitCodesAndOutput) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(CheckConfig(ConfigFlags{}, out, err), 2);
  EXPECT_EQ(err.str(), "kcredd check-config: --config FILE is required\n");

  err.str("");
  EXPECT_EQ(CheckConfig(FlagsFor("log:\n  level: loud\n"), out, err), 1);
  EXPECT_THAT(err.str(), StartsWith(path_ + ":2:10: log.level"));
  EXPECT_EQ(out.str(), "");

  EXPECT_EQ(CheckConfig(FlagsFor("log:\n  level: debug\n"), out, err), 0);
  EXPECT_THAT(out.str(), StartsWith(path_ + ": OK (0 clusters, 0 declared accounts; authorization: "
                                            "default policy: root"));
}

}  // namespace
}  // namespace kcred::app
