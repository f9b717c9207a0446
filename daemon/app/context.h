#pragma once
// What kcredd runs on besides its configuration, passed together (as Envoy passes its system
// seams): the clock, how clusters are reached, and what the service manager said through the
// environment.

#include <string>

#include "common/clock.h"
#include "daemon/app/cluster_connector.h"

namespace kcred::app {

// What kcredd takes from the environment systemd (or another service manager) set up.
struct SystemEnvironment {
  // $INVOCATION_ID is set (systemd sets it for every unit): the audit log is required by default.
  bool under_systemd = false;
  // The first entry of $RUNTIME_DIRECTORY (RuntimeDirectory=), or "": where the TLS copies go.
  std::string runtime_directory;
  // $CREDENTIALS_DIRECTORY (LoadCredential=), or "": where store.sealing_key_credential is read.
  std::string credentials_directory;
};

// Reads the variables above from this process's environment.
SystemEnvironment ReadSystemEnvironment();

// The seams of one kcredd. `clock` and `connector` must outlive everything they are passed to.
struct Context {
  Clock& clock;
  ClusterConnector& connector;
  SystemEnvironment environment;
};

}  // namespace kcred::app
