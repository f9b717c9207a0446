// `kcred provision -f FILE` and declared accounts: any YAML document is an account or an error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/account/spec_yaml.h"
#include "common/yaml_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto node = kcred::LoadYaml(text, "fuzz.yaml");
  if (!node.ok()) return 0;
  kcred::YamlReader reader("fuzz.yaml");
  (void)kcred::ReadAccountDocument(reader, *node, "");
  return 0;
}
