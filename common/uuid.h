#pragma once
// Random (version 4) UUIDs, e.g. "3f2c9a1e-7b4d-4c2a-9e8f-0123456789ab": account uids and the
// request ids of kcredd's audit records.

#include <string>

namespace kcred {

std::string NewUuid();

}  // namespace kcred
