// kcredd's configuration file: any bytes are either a Config or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  (void)kcred::config::ParseConfig(yaml, "fuzz.yaml");
  return 0;
}
