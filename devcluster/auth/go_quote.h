#pragma once
// Go's %q for the strings and string lists kube-apiserver puts into its messages, so that the
// devcluster's messages read byte for byte like a real cluster's.

#include <string>
#include <string_view>
#include <vector>

namespace kcred::devcluster::go {

// strconv.Quote for the ASCII a request carries: `"a\"b"`, with backslash, quote and control
// characters escaped.
std::string Quote(std::string_view s);

// %q of a []string: `["a" "b"]`.
std::string QuoteList(const std::vector<std::string>& items);

}  // namespace kcred::devcluster::go
