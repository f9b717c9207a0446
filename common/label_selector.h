#pragma once
// Kubernetes label selectors ("k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k", "!k",
// comma-separated), parsed once and matched against many label sets. Used for ListAccounts and
// WatchAccounts selectors and for the namespace selector of kcredd's admission policy.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kcred {

class LabelSelector {
 public:
  // An empty (or blank) text selects everything. InvalidArgument naming `what`, the text and the
  // bad requirement otherwise.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text,
                                             absl::string_view what = "label selector");

  bool empty() const { return requirements_.empty(); }

  // Whether `labels` (any map of strings with find/end, e.g. std::map or protobuf's Map)
  // satisfies every requirement. As in Kubernetes, "!=" and "notin" hold for a missing key.
  template <typename Labels>
  bool Matches(const Labels& labels) const {
    for (const Requirement& req : requirements_) {
      auto it = labels.find(req.key);
      const bool present = it != labels.end();
      const bool match = req.values.empty()
                             ? present
                             : present && std::find(req.values.begin(), req.values.end(),
                                                    it->second) != req.values.end();
      if (match == req.negate) return false;
    }
    return true;
  }

 private:
  struct Requirement {
    std::string key;
    std::vector<std::string> values;  // empty: an existence test
    bool negate = false;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace kcred
