// `kcred kubeconfig --merge` into whatever file the user has: any existing content is merged or
// refused, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string existing(reinterpret_cast<const char*>(data), size);
  kcred::KubeconfigEntry entry;
  entry.cluster_name = "kcred-dev";
  entry.server = "https://127.0.0.1:6443";
  entry.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  entry.user_name = "kcred-dev-automation-bot";
  entry.token = "not-a-real-token";
  entry.context_name = "kcred-dev-automation-bot";
  entry.namespace_name = "automation";
  (void)kcred::MergeKubeconfig(existing, "fuzz.kubeconfig", entry, /*set_current=*/size % 2 == 0);
  return 0;
}
