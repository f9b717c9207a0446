#pragma once
// Shell-style globs where `*` matches any run of characters (also none) and every other character
// matches itself. Used for the account, namespace, role and label-prefix patterns of kcredd's
// authorization and admission policies.

#include "absl/strings/string_view.h"

namespace kcred {

// Whether `text` matches `pattern` as a whole. Linear in practice (backtracks to the last `*`
// only).
bool GlobMatch(absl::string_view pattern, absl::string_view text);

// Whether `pattern` holds a `*`.
bool IsGlob(absl::string_view pattern);

}  // namespace kcred
