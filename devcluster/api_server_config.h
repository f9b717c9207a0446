#pragma once
// The settings of the dev cluster's API server (api_server.h), which its handlers read.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/secret.h"

namespace kcred::devcluster {

struct ApiServerConfig {
  kcred::SecretString admin_token;
  std::string admin_user = "kcred:admin";
  std::string ca_pem;                      // written into legacy token Secrets (data.ca.crt)
  std::vector<std::string> api_audiences;  // the issuer by default
  absl::Duration min_token_expiration = absl::Seconds(600);
  absl::Duration max_token_expiration = absl::ZeroDuration();  // zero: no cap
  absl::Duration max_watch_timeout = absl::Minutes(30);
  std::string server_address;  // host:port, for /api's serverAddressByClientCIDRs
};

}  // namespace kcred::devcluster
