#pragma once
// The YAML form of an account: the spec (field names as in the API's AccountSpec) and the
// "account document" that pairs it with the account's name. One reader for `kcred provision -f`
// files and for the accounts declared in kcredd's configuration, so both accept the same shape
// and report mistakes the same way ("SOURCE:LINE:COL: key.path: problem").

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/yaml_reader.h"
#include "proto/kcred/v1/broker.pb.h"

namespace kcred {

// Reads an AccountSpec (the shape documented in `kcred provision --help`) at `node` into `spec`.
// Unknown keys are errors; unset fields stay unset (the daemon's defaults apply). Errors are
// InvalidArgument naming reader.source():line:col and the key path below `path` ("" at the top).
absl::Status ReadAccountSpec(const YamlReader& reader, const YAML::Node& node,
                             const std::string& path, v1::AccountSpec* spec);

// One account document: `account: CLUSTER/NAMESPACE/NAME` or `ref: {cluster, namespace, name}`
// (at most one of them; has_ref tells whether either was given) and a required `spec:`.
struct AccountDocument {
  bool has_ref = false;
  v1::AccountRef ref;
  v1::AccountSpec spec;
};

// Reads an account document at `node`, a mapping with the keys account, ref and spec (any other
// key is an error). Errors as for ReadAccountSpec.
absl::StatusOr<AccountDocument> ReadAccountDocument(const YamlReader& reader,
                                                    const YAML::Node& node,
                                                    const std::string& path);

}  // namespace kcred
