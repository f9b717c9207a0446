// Shows that kcredd's config loader accepts good files and names file:line:col and the key path for
// every kind of bad input.
#include "daemon/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/account/account_ref.h"
#include "common/pki.h"
#include "tests/support/process.h"
#include "tests/support/test_pki.h"

namespace kcred::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Two clusters, prod-eu and dev, on lines 1 to 9; declared accounts follow from line 10.
constexpr char kTwoClusters[] =
    "clusters:\n"
    "- name: prod-eu\n"
    "  server: https://10.0.0.1:6443\n"
    "  ca_file: DIR/ca.crt\n"
    "  credential: {token_file: DIR/token}\n"
    "- name: dev\n"
    "  server: https://127.0.0.1:6443\n"
    "  ca_file: DIR/ca.crt\n"
    "  credential: {token_file: DIR/token}\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::WriteTestPki(dir_.path(), {}).ok());
    ASSERT_TRUE(testing::WriteFile(dir_.File("garbage.pem"), "not a certificate\n").ok());
    ASSERT_TRUE(testing::WriteFile(dir_.File("token"), "dummy-token\n", 0600).ok());
    ca_pem_ = testing::ReadFile(dir_.File("ca.crt")).value_or("");
  }

  // Parses `yaml` after replacing DIR with the temp directory.
  absl::StatusOr<Config> Parse(std::string yaml) {
    for (std::size_t pos; (pos = yaml.find("DIR")) != std::string::npos;)
      yaml.replace(pos, 3, dir_.path());
    return ParseConfig(yaml, "kcredd.yaml");
  }

  std::string Error(const std::string& yaml) {
    auto config = Parse(yaml);
    EXPECT_FALSE(config.ok()) << yaml;
    return config.ok() ? "" : std::string(config.status().message());
  }

  testing::TempDir dir_;
  std::string ca_pem_;
};

// An empty file means the defaults: a 0660 socket at /run/kcred/kcredd.sock, no TCP listener,
// state in /var/lib/kcred and info logging.
TEST_F(ConfigTest, EmptyFileMeansDefaults) {
  auto config = Parse("");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->listen.unix_socket.has_value());
  EXPECT_EQ(config->listen.unix_socket->path, "/run/kcred/kcredd.sock");
  EXPECT_EQ(config->listen.unix_socket->mode, 0660);
  EXPECT_FALSE(config->listen.tcp.has_value());
  EXPECT_EQ(config->state_dir, "/var/lib/kcred");
  EXPECT_EQ(config->log.level, spdlog::level::info);
}

// A full file's listen, log and state_dir settings are read; require_client_cert, unset, is true.
TEST_F(ConfigTest, FullGoodFileIsRead) {
  auto config = Parse(R"(
listen:
  unix:
    path: /tmp/kcred-test/kcredd.sock
    mode: "0600"
  tcp:
    address: 127.0.0.1:7443
    tls:
      cert_file: DIR/tls.crt
      key_file: DIR/tls.key
      client_ca_file: DIR/ca.crt
log:
  level: debug
  format: json
state_dir: /var/lib/kcred-test
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.unix_socket->path, "/tmp/kcred-test/kcredd.sock");
  EXPECT_EQ(config->listen.unix_socket->mode, 0600);
  ASSERT_TRUE(config->listen.tcp.has_value());
  EXPECT_EQ(config->listen.tcp->address, "127.0.0.1:7443");
  ASSERT_TRUE(config->listen.tcp->tls.has_value());
  EXPECT_EQ(config->listen.tcp->tls->client_ca_file, dir_.File("ca.crt"));
  EXPECT_TRUE(config->listen.tcp->tls->require_client_cert);
  EXPECT_EQ(config->log.level, spdlog::level::debug);
  EXPECT_EQ(config->log.format, LogFormat::kJson);
  EXPECT_EQ(config->state_dir, "/var/lib/kcred-test");
}

// `unix: false` turns the unix socket off and keeps the TCP listener.
TEST_F(ConfigTest, UnixSocketCanBeTurnedOff) {
  auto config = Parse("listen:\n  unix: false\n  tcp:\n    address: 127.0.0.1:0\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->listen.unix_socket.has_value());
  EXPECT_TRUE(config->listen.tcp.has_value());
}

// An unknown top-level key is refused with its line, column and the keys allowed.
TEST_F(ConfigTest, UnknownTopLevelKeyNamesLineColumnAndChoices) {
  EXPECT_EQ(
      Error("log:\n  level: info\nlisten_on: x\n"),
      "kcredd.yaml:3:1: listen_on: unknown key; expected one of accounts, audit, authorization, "
      "clusters, defaults, limits, listen, log, state_dir, store");
}

// An unknown nested key is refused with its dotted path and the keys allowed there.
TEST_F(ConfigTest, UnknownNestedKeyNamesItsPath) {
  EXPECT_EQ(Error("listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      certfile: x\n"),
            "kcredd.yaml:5:7: listen.tcp.tls.certfile: unknown key; expected one of cert_file, "
            "client_ca_file, key_file, require_client_cert");
}

// A value of the wrong type is refused with its position, its path and the type expected.
TEST_F(ConfigTest, WrongTypeIsNamed) {
  EXPECT_EQ(Error("log:\n  level: [debug]\n"), "kcredd.yaml:2:10: log.level: expected a string");
  EXPECT_EQ(Error("listen: 7\n"),
            "kcredd.yaml:1:9: listen: expected a mapping with keys tcp, unix");
  EXPECT_THAT(
      Error("listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: DIR/tls.crt\n"
            "      key_file: DIR/tls.key\n      require_client_cert: maybe\n"),
      HasSubstr("kcredd.yaml:7:28: listen.tcp.tls.require_client_cert: expected true or false"));
}

// A bad log level or format, socket mode or path, address, state_dir or group is refused with its
// position and what is allowed.
TEST_F(ConfigTest, BadValuesSayWhatIsAllowed) {
  EXPECT_EQ(
      Error("log:\n  level: loud\n"),
      "kcredd.yaml:2:10: log.level: unknown log level \"loud\"; use one of trace, debug, info, "
      "warn, error, critical, off");
  EXPECT_THAT(Error("log:\n  format: xml\n"),
              HasSubstr("kcredd.yaml:2:11: log.format: unknown log format"));
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: \"0666\"\n"),
              HasSubstr("kcredd.yaml:3:11: listen.unix.mode: must not grant access to others"));
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: rw\n"),
              HasSubstr("listen.unix.mode: \"rw\" is not an octal mode"));
  EXPECT_THAT(Error("listen:\n  unix:\n    path: relative.sock\n"),
              HasSubstr("kcredd.yaml:3:11: listen.unix.path: must be an absolute path"));
  EXPECT_THAT(Error("listen:\n  tcp:\n    address: localhost\n"),
              HasSubstr("kcredd.yaml:3:14: listen.tcp.address: \"localhost\" is not host:port"));
  EXPECT_THAT(Error("listen:\n  tcp:\n    address: 127.0.0.1:99999\n"),
              HasSubstr("needs a host and a port from 0 to 65535"));
  EXPECT_THAT(Error("state_dir: var/lib\n"),
              HasSubstr("kcredd.yaml:1:12: state_dir: must be an absolute path"));
  EXPECT_THAT(Error("listen:\n  unix:\n    group: no-such-group-kcred\n"),
              HasSubstr("group \"no-such-group-kcred\" does not exist"));
}

// A socket mode of more than four octal digits (a long digit string once overflowed an int) or
// with a digit that is not octal is refused, naming the key and the value, and a short one works.
TEST_F(ConfigTest, SocketModeMustBeAShortOctalNumber) {
  EXPECT_EQ(Error("listen:\n  unix:\n    mode: \"06600000000000000000000\"\n"),
            "kcredd.yaml:3:11: listen.unix.mode: \"06600000000000000000000\" is not an octal mode "
            "such as \"0660\"");
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: \"99999999999\"\n"),
              HasSubstr("listen.unix.mode: \"99999999999\" is not an octal mode"));
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: \"06600\"\n"),
              HasSubstr("listen.unix.mode: \"06600\" is not an octal mode"));
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: \"0689\"\n"),
              HasSubstr("listen.unix.mode: \"0689\" is not an octal mode"));
  EXPECT_THAT(Error("listen:\n  unix:\n    mode: \"0o6600\"\n"),
              HasSubstr("listen.unix.mode: \"0o6600\" is not an octal mode"));
  auto config = Parse("listen:\n  unix:\n    mode: \"0o640\"\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.unix_socket->mode, 0640);
}

// A certificate file that does not exist is refused with the key's position and path and the file.
TEST_F(ConfigTest, MissingCertificateFileIsNamed) {
  EXPECT_EQ(Error("listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: /x.pem\n"
                  "      key_file: DIR/tls.key\n      client_ca_file: DIR/ca.crt\n"),
            "kcredd.yaml:5:18: listen.tcp.tls.cert_file: file \"/x.pem\" does not exist");
}

// A cert_file holding no PEM certificate, or a key_file holding no PEM private key, is refused.
TEST_F(ConfigTest, FilesWithoutPemContentAreRefused) {
  EXPECT_THAT(
      Error(
          "listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: DIR/garbage.pem\n"
          "      key_file: DIR/tls.key\n      client_ca_file: DIR/ca.crt\n"),
      HasSubstr("listen.tcp.tls.cert_file: file \"" + dir_.File("garbage.pem") +
                "\" holds no PEM certificate"));
  EXPECT_THAT(
      Error("listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: DIR/tls.crt\n"
            "      key_file: DIR/tls.crt\n      client_ca_file: DIR/ca.crt\n"),
      HasSubstr("listen.tcp.tls.key_file: file \"" + dir_.File("tls.crt") +
                "\" holds no PEM private key"));
}

// Client certificates are required unless the file says otherwise twice: require_client_cert:
// false, and allow_anonymous: true for the callers that then come without one.
TEST_F(ConfigTest, ClientCaIsRequiredUnlessAnonymousCallersAreAllowed) {
  EXPECT_THAT(
      Error("listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: DIR/tls.crt\n"
            "      key_file: DIR/tls.key\n"),
      HasSubstr("kcredd.yaml:5:7: listen.tcp.tls: missing \"client_ca_file\""));
  const std::string optional =
      "listen:\n  tcp:\n    address: 127.0.0.1:1\n    tls:\n      cert_file: DIR/tls.crt\n"
      "      key_file: DIR/tls.key\n      require_client_cert: false\n";
  EXPECT_THAT(Error(optional), HasSubstr("kcredd.yaml:5:7: listen.tcp.tls: serves callers "
                                         "without a client certificate"));
  EXPECT_THAT(Error(optional), HasSubstr("listen.tcp.allow_anonymous: true"));
  auto config = Parse(optional + "    allow_anonymous: true\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->listen.tcp->tls->require_client_cert);
  EXPECT_TRUE(config->listen.tcp->allow_anonymous);
  EXPECT_TRUE(ServesAnonymous(*config->listen.tcp));
}

// Broken YAML is refused with the position where it breaks.
TEST_F(ConfigTest, InvalidYamlNamesPosition) {
  EXPECT_THAT(Error("listen:\n  unix: [\n"), HasSubstr("kcredd.yaml:3:1: not valid YAML"));
}

// Turning the unix socket off without a TCP listener is refused: no listener would be left.
TEST_F(ConfigTest, NoListenerLeftIsRefused) {
  EXPECT_THAT(Error("listen:\n  unix: false\n"), HasSubstr("listen: no listener left"));
}

// A config file that does not exist is NOT_FOUND, saying to create it or pass --config.
TEST_F(ConfigTest, MissingFileSaysHowToFix) {
  auto config = LoadConfigFile(dir_.File("absent.yaml"));
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::IsNotFound(config.status()));
  EXPECT_THAT(config.status().message(), HasSubstr("does not exist; create it or pass --config"));
}

// LoadConfigFile reads the file at a path and records that path as the config's source.
TEST_F(ConfigTest, LoadsFromFile) {
  ASSERT_TRUE(testing::WriteFile(dir_.File("k.yaml"), "log:\n  level: warn\n").ok());
  auto config = LoadConfigFile(dir_.File("k.yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, dir_.File("k.yaml"));
  EXPECT_EQ(config->log.level, spdlog::level::warn);
}

// Token defaults, clusters with either kind of credential and the store's key file are read: the
// server loses its trailing '/', the CA comes from its file, unset keys take their defaults.
TEST_F(ConfigTest, ClustersAndDefaultsAreRead) {
  auto config = Parse(R"(
defaults:
  token:
    ttl: 2h
    rotate_fraction: 0.75
    grace: 0s
clusters:
- name: prod-eu
  server: https://10.0.0.1:6443/
  ca_file: DIR/ca.crt
  credential:
    token_file: DIR/token
  qps: 10
  burst: 20
  context_name_template: gs-{cluster}
  min_token_ttl: 1m
  audiences: [https://kubernetes.default.svc]
- name: dev
  server: https://127.0.0.1:6443
  ca_file: DIR/ca.crt
  credential:
    kubeconfig_file: DIR/token
    context: admin
store:
  sealing_key_file: DIR/token
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token_defaults.ttl, absl::Hours(2));
  EXPECT_EQ(config->token_defaults.rotate_fraction, 0.75);
  EXPECT_EQ(config->token_defaults.grace, absl::ZeroDuration());
  ASSERT_EQ(config->clusters.size(), 2u);
  const ClusterConfig& prod = config->clusters[0];
  EXPECT_EQ(prod.name, "prod-eu");
  EXPECT_EQ(prod.server, "https://10.0.0.1:6443");
  EXPECT_EQ(prod.ca_pem, ca_pem_);
  EXPECT_EQ(prod.credential.token_file, dir_.File("token"));
  EXPECT_EQ(prod.qps, 10);
  EXPECT_EQ(prod.burst, 20);
  EXPECT_EQ(prod.context_name_template, "gs-{cluster}");
  EXPECT_EQ(prod.cluster_name_template, "kcred-{cluster}");
  EXPECT_EQ(prod.min_token_ttl, absl::Minutes(1));
  EXPECT_EQ(prod.max_token_ttl, absl::InfiniteDuration());
  EXPECT_EQ(prod.audiences, std::vector<std::string>{"https://kubernetes.default.svc"});
  EXPECT_EQ(config->clusters[1].credential.kubeconfig_file, dir_.File("token"));
  EXPECT_EQ(config->clusters[1].credential.kubeconfig_context, "admin");
  EXPECT_EQ(config->store.sealing_key_file, dir_.File("token"));
}

// Each cluster mistake (missing or empty credential, missing file, bad name, http server, no CA,
// unknown placeholder, qps 0, a duplicate) and bad token default is refused at its path.
TEST_F(ConfigTest, ClusterMistakesAreNamed) {
  const std::string head =
      "clusters:\n- name: dev\n  server: https://h:6443\n  ca_file: DIR/ca.crt\n";
  EXPECT_THAT(Error(head),
              HasSubstr("kcredd.yaml:2:3: clusters[0]: missing required key \"credential\""));
  EXPECT_THAT(
      Error(head + "  credential: {}\n"),
      HasSubstr("clusters[0].credential: give exactly one of token_file or kubeconfig_file"));
  EXPECT_THAT(Error(head + "  credential: {token_file: /no/such}\n"),
              HasSubstr("clusters[0].credential.token_file: file \"/no/such\" does not exist"));
  EXPECT_THAT(Error("clusters:\n- name: Dev_1\n  server: https://h\n  ca_file: DIR/ca.crt\n"
                    "  credential: {token_file: DIR/token}\n"),
              HasSubstr("kcredd.yaml:2:9: clusters[0].name: cluster name \"Dev_1\" is not a valid "
                        "DNS-1123 label"));
  EXPECT_THAT(Error("clusters:\n- name: dev\n  server: http://h\n  ca_file: DIR/ca.crt\n"
                    "  credential: {token_file: DIR/token}\n"),
              HasSubstr("clusters[0].server: \"http://h\" must be an https:// URL"));
  EXPECT_THAT(
      Error("clusters:\n- name: dev\n  server: https://h\n  credential: {token_file: DIR/token}\n"),
      HasSubstr("missing \"ca_file\" (or \"ca_pem\")"));
  EXPECT_THAT(
      Error(head + "  credential: {token_file: DIR/token}\n  context_name_template: x-{user}\n"),
      HasSubstr("clusters[0].context_name_template: \"x-{user}\" has an unknown placeholder"));
  EXPECT_THAT(Error(head + "  credential: {token_file: DIR/token}\n  qps: 0\n"),
              HasSubstr("clusters[0].qps: must be positive"));
  EXPECT_THAT(Error(head + "  credential: {token_file: DIR/token}\n" +
                    "- name: dev\n  server: https://h:6443\n  ca_file: DIR/ca.crt\n  credential: "
                    "{token_file: DIR/token}\n"),
              HasSubstr("clusters[1].name: cluster \"dev\" is defined twice"));
  EXPECT_THAT(
      Error("defaults:\n  token:\n    rotate_fraction: 1.5\n"),
      HasSubstr(
          "kcredd.yaml:3:22: defaults.token.rotate_fraction: must lie strictly between 0 and 1"));
  EXPECT_THAT(Error("defaults:\n  token:\n    ttl: soon\n"),
              HasSubstr("defaults.token.ttl: expected a duration such as 90s, 10m or 1h"));
}

// Declared accounts are read in either form, account string or ref mapping, with their spec as
// provision -f reads it and the position where each is declared.
TEST_F(ConfigTest, DeclaredAccountsAreRead) {
  // Both ways of naming the account work, the spec is read as kcred provision -f reads it, and
  // each item remembers where it is declared.
  auto config = Parse(std::string(kTwoClusters) + R"(accounts:
  prune: true
  items:
    - account: prod-eu/ci/deployer
      spec:
        access:
          rules:
            - verbs: [get, list]
              resources: [pods]
    - ref: {cluster: dev, namespace: tools, name: viewer}
      spec:
        scope: cluster
        access:
          role_ref: {kind: ClusterRole, name: view}
        token: {mode: legacy, ttl: 2h, grace: 1m}
        labels: {team: ci}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->accounts.prune);
  ASSERT_EQ(config->accounts.items.size(), 2u);

  const DeclaredAccount& deployer = config->accounts.items[0];
  EXPECT_EQ(FormatAccountRef(deployer.ref), "prod-eu/ci/deployer");
  EXPECT_EQ(deployer.where, "kcredd.yaml:13:7");
  ASSERT_EQ(deployer.spec.access().rules().rules_size(), 1);
  EXPECT_THAT(deployer.spec.access().rules().rules(0).verbs(), ElementsAre("get", "list"));
  EXPECT_THAT(deployer.spec.access().rules().rules(0).resources(), ElementsAre("pods"));
  EXPECT_EQ(deployer.spec.scope(), v1::SCOPE_UNSPECIFIED);
  EXPECT_FALSE(deployer.spec.has_token());

  const DeclaredAccount& viewer = config->accounts.items[1];
  EXPECT_EQ(viewer.ref.cluster(), "dev");
  EXPECT_EQ(viewer.ref.namespace_(), "tools");
  EXPECT_EQ(viewer.ref.name(), "viewer");
  EXPECT_EQ(viewer.where, "kcredd.yaml:19:7");
  EXPECT_EQ(viewer.spec.scope(), v1::SCOPE_CLUSTER);
  EXPECT_EQ(viewer.spec.access().role_ref().kind(), v1::ROLE_KIND_CLUSTER_ROLE);
  EXPECT_EQ(viewer.spec.access().role_ref().name(), "view");
  EXPECT_EQ(viewer.spec.token().mode(), v1::TOKEN_MODE_LEGACY);
  EXPECT_EQ(FromProtoDuration(viewer.spec.token().ttl()), absl::Hours(2));
  EXPECT_EQ(FromProtoDuration(viewer.spec.token().grace()), absl::Minutes(1));
  EXPECT_THAT(viewer.spec.labels(), UnorderedElementsAre(Pair("team", "ci")));
}

// Pruning is off unless prune: true is given, which is accepted with no items; items alone do not
// turn it on.
TEST_F(ConfigTest, PruneIsOffUnlessSaidOtherwise) {
  // No accounts section means no declared accounts and no pruning; prune alone is allowed (it
  // deprovisions every account that was declared before).
  auto config = Parse(kTwoClusters);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->accounts.prune);
  EXPECT_TRUE(config->accounts.items.empty());

  config = Parse(std::string(kTwoClusters) +
                 "accounts:\n  items:\n  - account: dev/a/b\n    spec: {access: {token_only: "
                 "true}}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->accounts.prune);
  ASSERT_EQ(config->accounts.items.size(), 1u);
  EXPECT_TRUE(config->accounts.items[0].spec.access().has_token_only());

  config = Parse(std::string(kTwoClusters) + "accounts:\n  prune: true\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->accounts.prune);
  EXPECT_TRUE(config->accounts.items.empty());

  config = Parse("accounts:\n  prune: false\n  items: []\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->accounts.prune);
  EXPECT_TRUE(config->accounts.items.empty());
}

// A declared account on a cluster not configured is refused at its position, listing the clusters
// there are, or saying there are none.
TEST_F(ConfigTest, DeclaredAccountOnAnUnknownClusterNamesTheClusters) {
  // The cluster must be one of clusters[].name; the message lists those that exist.
  const std::string token_only = "    spec: {access: {token_only: true}}\n";
  EXPECT_EQ(Error(std::string(kTwoClusters) + "accounts:\n  items:\n  - account: dev/a/b\n" +
                  token_only + "  - account: staging/a/b\n" + token_only),
            "kcredd.yaml:14:14: accounts.items[1].account: cluster \"staging\" is not configured; "
            "the clusters are prod-eu, dev");
  EXPECT_EQ(
      Error(std::string(kTwoClusters) +
            "accounts:\n  items:\n  - ref: {cluster: prod, namespace: a, name: b}\n" + token_only),
      "kcredd.yaml:12:20: accounts.items[0].ref.cluster: cluster \"prod\" is not "
      "configured; the clusters are prod-eu, dev");
  EXPECT_EQ(Error("accounts:\n  items:\n  - account: dev/a/b\n" + token_only),
            "kcredd.yaml:3:14: accounts.items[0].account: cluster \"dev\" is not configured: there "
            "are no clusters; add it under clusters:");
}

// An account declared twice, in either form, is refused at the second place, naming the first.
TEST_F(ConfigTest, DeclaredAccountTwiceNamesBothPlaces) {
  // The same account twice is refused at the second place, which names the first; the short form
  // and the ref mapping of one account are the same account.
  const std::string token_only = "    spec: {access: {token_only: true}}\n";
  EXPECT_EQ(
      Error(std::string(kTwoClusters) + "accounts:\n  items:\n  - account: dev/a/b\n" + token_only +
            "  - account: prod-eu/a/b\n" + token_only + "  - account: dev/a/b\n" + token_only),
      "kcredd.yaml:16:14: accounts.items[2].account: account \"dev/a/b\" is declared twice; "
      "first at kcredd.yaml:12:5 (accounts.items[0]); keep one");
  EXPECT_EQ(Error(std::string(kTwoClusters) + "accounts:\n  items:\n  - account: dev/a/b\n" +
                  token_only + "  - ref: {cluster: dev, namespace: a, name: b}\n" + token_only),
            "kcredd.yaml:14:10: accounts.items[1].ref: account \"dev/a/b\" is declared twice; "
            "first at kcredd.yaml:12:5 (accounts.items[0]); keep one");
}

// A declared account with no name, an unknown key at any level, two kinds of access or a malformed
// name, and a prune, items or accounts of the wrong type, are refused with position and path.
TEST_F(ConfigTest, DeclaredAccountMistakesAreNamed) {
  // Every item names its account; unknown keys at every level and bad specs name their path.
  const std::string head = std::string(kTwoClusters) + "accounts:\n  items:\n";
  const std::string token_only = "    spec: {access: {token_only: true}}\n";
  EXPECT_EQ(Error(head + "  - spec: {access: {token_only: true}}\n"),
            "kcredd.yaml:12:5: accounts.items[0]: names no account; add account: "
            "CLUSTER/NAMESPACE/NAME (or ref: {cluster, namespace, name})");
  EXPECT_EQ(Error(std::string(kTwoClusters) + "accounts:\n  purge: true\n"),
            "kcredd.yaml:11:3: accounts.purge: unknown key; expected one of items, prune");
  EXPECT_EQ(Error(head + "  - account: dev/a/b\n    specs: {}\n"),
            "kcredd.yaml:13:5: accounts.items[0].specs: unknown key; expected one of account, "
            "ref, spec");
  EXPECT_EQ(Error(head + "  - account: dev/a/b\n    spec:\n      acess: {token_only: true}\n"),
            "kcredd.yaml:14:7: accounts.items[0].spec.acess: unknown key; expected one of scope, "
            "access, create_namespace, adopt, token, labels, annotations");
  EXPECT_EQ(Error(head + "  - account: dev/a/b\n" + token_only + "  - account: dev/a/c\n" +
                  token_only + "  - account: dev/a/d\n    spec:\n      access:\n" +
                  "        token_only: true\n        rules: [{verbs: [get], resources: [pods]}]\n"),
            "kcredd.yaml:19:9: accounts.items[2].spec.access: give exactly one of rules, "
            "role_ref, token_only");
  EXPECT_EQ(Error(head + "  - account: dev/a\n" + token_only),
            "kcredd.yaml:12:14: accounts.items[0].account: account \"dev/a\" is not "
            "CLUSTER/NAMESPACE/NAME (three non-empty parts separated by \"/\"), e.g. "
            "dev/automation/ci-bot");
  EXPECT_EQ(Error(std::string(kTwoClusters) + "accounts:\n  prune: sometimes\n"),
            "kcredd.yaml:11:10: accounts.prune: expected true or false");
  EXPECT_EQ(Error(std::string(kTwoClusters) + "accounts:\n  items: {account: dev/a/b}\n"),
            "kcredd.yaml:11:10: accounts.items: expected a list of accounts, each with account "
            "(or ref) and spec");
  EXPECT_EQ(Error("accounts: [dev/a/b]\n"),
            "kcredd.yaml:1:11: accounts: expected a mapping with keys items, prune");
}

// The authorization section: rules with subjects, actions and account globs, each with its source.
TEST_F(ConfigTest, AuthorizationRulesAreRead) {
  auto config = Parse(R"(authorization:
  rules:
  - subjects: ["unix:user:deploy-bot", "unix:group:ci", "x509:cn:builder", "x509:uri:spiffe://corp/ci"]
    actions: [get-kubeconfig, get-token, get, list, watch]
    accounts: ["prod-eu/ci/*", "dev/*/*"]
  - subjects: ["unix:uid:0"]
    actions: ["*"]
    accounts: ["*/*/*"]
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->authorization.configured);
  ASSERT_EQ(config->authorization.rules.size(), 2u);
  EXPECT_THAT(config->authorization.rules[0].accounts, ElementsAre("prod-eu/ci/*", "dev/*/*"));
  EXPECT_EQ(config->authorization.rules[1].source, "authorization.rules[1] (kcredd.yaml:6:5)");
  EXPECT_FALSE(Parse("")->authorization.configured);
  // An empty section is deliberate: nobody may call.
  auto empty = Parse("authorization: {rules: []}\n");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->authorization.configured);
  EXPECT_TRUE(empty->authorization.rules.empty());
}

// Every mistake in a rule names its position and what is accepted.
TEST_F(ConfigTest, AuthorizationMistakesAreNamed) {
  auto rule = [](const std::string& subjects, const std::string& actions,
                 const std::string& accounts) {
    return "authorization:\n  rules:\n  - subjects: " + subjects + "\n    actions: " + actions +
           "\n    accounts: " + accounts + "\n";
  };
  EXPECT_THAT(Error(rule("[\"user:alice\"]", "[get]", "[\"*/*/*\"]")),
              HasSubstr("kcredd.yaml:3:16: authorization.rules[0].subjects[0]: unknown subject"));
  EXPECT_THAT(Error(rule("[\"unix:uid:alice\"]", "[get]", "[\"*/*/*\"]")),
              HasSubstr("takes a number"));
  EXPECT_THAT(Error(rule("[\"unix:uid:1\"]", "[read]", "[\"*/*/*\"]")),
              HasSubstr("kcredd.yaml:4:15: authorization.rules[0].actions[0]: unknown action "
                        "\"read\"; use one of provision, get, list, watch, get-kubeconfig"));
  EXPECT_THAT(Error(rule("[\"unix:uid:1\"]", "[get]", "[\"dev/*\"]")),
              HasSubstr("kcredd.yaml:5:16: authorization.rules[0].accounts[0]: \"dev/*\" is not "
                        "an account pattern"));
  EXPECT_THAT(Error(rule("[]", "[get]", "[\"*/*/*\"]")), HasSubstr("must not be empty"));
  EXPECT_THAT(Error("authorization:\n  rules:\n  - subjects: [\"unix:uid:1\"]\n"),
              HasSubstr("missing required key \"actions\""));
  EXPECT_THAT(Error("authorization:\n  roles: []\n"),
              HasSubstr("authorization.roles: unknown key; expected one of rules"));
}

// A cluster's admission policy: safe defaults, and every key read.
TEST_F(ConfigTest, ClusterPolicyDefaultsAndKeys) {
  auto defaults = Parse(std::string(kTwoClusters));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  const AdmissionPolicy& d = defaults->clusters[0].policy;
  EXPECT_FALSE(d.allow_cluster_scope || d.allow_create_namespace || d.allow_token_only ||
               d.allow_legacy_tokens || d.allow_adopt);
  EXPECT_THAT(d.forbidden.verbs, ElementsAre("*", "escalate", "bind", "impersonate"));
  EXPECT_THAT(d.forbidden.cluster_resources, ElementsAre("secrets"));
  EXPECT_THAT(d.denied_namespaces, ElementsAre("kube-system", "kube-public", "kube-node-lease"));
  EXPECT_TRUE(d.allowed_role_refs.empty());
  EXPECT_EQ(d.max_ttl, absl::Hours(24));
  auto config = Parse(std::string(kTwoClusters) + R"(  policy:
    namespaces: ["team-*"]
    denied_namespaces: []
    namespace_selector: "kcred.io/allowed=true"
    allow_cluster_scope: true
    allow_create_namespace: true
    allow_token_only: true
    allow_legacy_tokens: true
    allow_adopt: true
    allowed_role_refs: [ClusterRole/view, "Role/app-*"]
    forbidden: {verbs: [escalate], resources: [], cluster_resources: [secrets, nodes]}
    max_ttl: 2h
    max_grace: 10m
    allowed_audiences: [vault]
    reserved_label_prefixes: ["example.com/"]
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const AdmissionPolicy& p = config->clusters[1].policy;
  EXPECT_THAT(p.namespaces, ElementsAre("team-*"));
  EXPECT_TRUE(p.denied_namespaces.empty());
  EXPECT_EQ(p.namespace_selector, "kcred.io/allowed=true");
  EXPECT_TRUE(p.allow_cluster_scope && p.allow_create_namespace && p.allow_token_only &&
              p.allow_legacy_tokens && p.allow_adopt);
  EXPECT_THAT(p.allowed_role_refs, ElementsAre("ClusterRole/view", "Role/app-*"));
  EXPECT_THAT(p.forbidden.verbs, ElementsAre("escalate"));
  EXPECT_TRUE(p.forbidden.resources.empty());
  EXPECT_THAT(p.forbidden.api_groups, ElementsAre("*"));  // not mentioned: the default
  EXPECT_THAT(p.forbidden.cluster_resources, ElementsAre("secrets", "nodes"));
  EXPECT_EQ(p.max_ttl, absl::Hours(2));
  EXPECT_EQ(p.max_grace, absl::Minutes(10));
  EXPECT_THAT(p.allowed_audiences, ElementsAre("vault"));
  EXPECT_THAT(p.reserved_label_prefixes, ElementsAre("example.com/"));
  EXPECT_FALSE(config->clusters[0].policy == p);
  EXPECT_TRUE(SameConnection(config->clusters[1], defaults->clusters[1]));
  EXPECT_FALSE(config->clusters[1] == defaults->clusters[1]);
}

// Policy mistakes name the key and what to write instead.
TEST_F(ConfigTest, ClusterPolicyMistakesAreNamed) {
  const std::string base(kTwoClusters);
  EXPECT_THAT(Error(base + "  policy: {allow_everything: true}\n"),
              HasSubstr("clusters[1].policy.allow_everything: unknown key"));
  EXPECT_THAT(Error(base + "  policy: {allowed_role_refs: [view]}\n"),
              HasSubstr("clusters[1].policy.allowed_role_refs[0]: \"view\" must name "
                        "ClusterRole/NAME or Role/NAME"));
  EXPECT_THAT(Error(base + "  policy: {namespace_selector: \"a in (b\"}\n"),
              HasSubstr("clusters[1].policy.namespace_selector: label selector"));
  EXPECT_THAT(Error(base + "  policy: {reserved_label_prefixes: [example.com]}\n"),
              HasSubstr("must end with \"/\""));
  EXPECT_THAT(
      Error(base + "  policy: {max_ttl: 1m}\n"),
      HasSubstr("clusters[1].policy.max_ttl: must not be below the cluster's min_token_ttl"));
  EXPECT_THAT(Error("defaults:\n  token: {grace: 2h}\n" + base),
              HasSubstr("clusters[0].policy.max_grace: is shorter than defaults.token.grace"));
}

// Audit and limits sections: read with their units, refused with positions.
TEST_F(ConfigTest, AuditAndLimits) {
  auto config = Parse(R"(audit:
  sink: file
  path: /var/log/kcred/audit.log
  max_size: 10MiB
  max_files: 3
  required: true
limits:
  calls_per_caller: 8
  watches_per_caller: 4
  watches_total: 100
  secret_reads_per_second: 2.5
  secret_reads_burst: 10
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->audit.path, "/var/log/kcred/audit.log");
  EXPECT_EQ(config->audit.max_bytes, 10 << 20);
  EXPECT_EQ(config->audit.max_files, 3);
  EXPECT_EQ(config->audit.required, std::optional<bool>(true));
  EXPECT_EQ(config->limits.calls_per_caller, 8);
  EXPECT_EQ(config->limits.watches_total, 100);
  EXPECT_DOUBLE_EQ(config->limits.secret_reads_per_second, 2.5);
  EXPECT_FALSE(Parse("")->audit.required.has_value());
  EXPECT_THAT(Error("audit: {sink: none}\n"),
              HasSubstr("kcredd.yaml:1:15: audit.sink: unknown sink \"none\"; use file (JSON "
                        "lines) or journal; the audit log cannot be turned off"));
  EXPECT_THAT(Error("audit: {max_size: lots}\n"), HasSubstr("is not a size such as 100MiB"));
  EXPECT_THAT(Error("audit: {sink: journal, path: /x}\n"), HasSubstr("only with sink: file"));
  EXPECT_THAT(Error("limits: {watches_total: 0}\n"), HasSubstr("must be at least 1"));
  EXPECT_THAT(Error("limits: {watches_per_caller: 10, watches_total: 5}\n"),
              HasSubstr("watches_per_caller must not exceed watches_total"));
}

}  // namespace
}  // namespace kcred::config
