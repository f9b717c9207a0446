// kubectl's protobuf request bodies (application/vnd.kubernetes.protobuf) as kcred-devcluster
// decodes them: any bytes are an object in its JSON form or InvalidArgument, never a crash.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "devcluster/protobuf_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> object = kcred::devcluster::DecodeKubernetesProtobuf(body);
  // The rest of the server reads and writes the decoded object as JSON.
  if (object.ok()) (void)object->dump();
  return 0;
}
