#pragma once

#include <map>
#include <string>
#include <vector>

namespace kcred::devcluster {

// An authenticated user, as Kubernetes' user.Info.
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

}  // namespace kcred::devcluster
