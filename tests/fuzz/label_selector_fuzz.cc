// The label-selector parser shared by the broker, the fake kube client and kcred-devcluster: any
// text parses or is refused, and a parsed selector can be matched.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/label_selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto selector = kcred::LabelSelector::Parse(text);
  if (selector.ok()) {
    const std::map<std::string, std::string> labels = {{"app", "web"}, {"tier", text}};
    (void)selector->Matches(labels);
  }
  return 0;
}
