#pragma once
// What the authorization tests share: kcredd configured with a unix socket that other uids may
// reach, a mTLS listener, two clusters on one kcred-devcluster, and the audit log to read back.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/support/kcred_env.h"
#include "tests/support/test_pki.h"

namespace kcred::testing {

// Runs a command as nobody (uid and gid 65534, no supplementary groups).
inline const std::vector<std::string> kAsNobody = {"/usr/bin/setpriv", "--reuid=65534",
                                                   "--regid=65534", "--clear-groups", "--"};

// Writes <dir>/kcredd.yaml: the unix socket (0660, group nogroup, so nobody may connect), TCP with
// mTLS on 127.0.0.1 (ca.crt, tls.crt, tls.key of WriteTestPki), cluster "dev" with `dev_policy`
// and cluster "prod" (the same kcred-devcluster) with the default policy, and `extra` at the top
// level (authorization, accounts, audit, limits, log).
inline void WriteAuthzConfig(const KcredEnv& env, const std::string& extra,
                             const std::string& dev_policy = kTestPolicy) {
  auto cluster = [&](const std::string& name, const std::string& policy) {
    return absl::StrCat("- name: ", name, "\n  server: https://", env.address(),
                        "\n  ca_file: ", env.File("cluster/ca.crt"),
                        "\n  credential:\n    token_file: ", env.File("kcredd.token"),
                        "\n  min_token_ttl: 10s\n", policy);
  };
  const std::string config = absl::StrCat(
      "listen:\n  unix:\n    path: ", env.socket(), "\n    mode: \"0660\"\n    group: nogroup\n",
      "  tcp:\n    address: 127.0.0.1:0\n    tls:\n      cert_file: ", env.File("tls.crt"),
      "\n      key_file: ", env.File("tls.key"), "\n      client_ca_file: ", env.File("ca.crt"),
      "\nstate_dir: ", env.File("state"), "\nstore:\n  sealing_key_file: ", env.File("sealing.key"),
      "\nclusters:\n", cluster("dev", dev_policy), cluster("prod", ""), extra);
  ASSERT_TRUE(WriteFile(env.File("kcredd.yaml"), config).ok());
}

// host:port of kcredd's TCP listener, from its ready file.
inline std::string TcpAddress(const KcredEnv& env) {
  auto ready = ReadFile(env.File("kcredd.ready"));
  EXPECT_TRUE(ready.ok());
  return absl::StrCat("127.0.0.1:",
                      nlohmann::json::parse(ready.value_or("{}")).value("tcp_port", 0));
}

// Every record of kcredd's audit log, parsed.
inline std::vector<nlohmann::json> AuditRecords(const KcredEnv& env) {
  std::vector<nlohmann::json> records;
  for (const std::string& line : env.AuditLines()) records.push_back(nlohmann::json::parse(line));
  return records;
}

}  // namespace kcred::testing
