#include "daemon/app/context.h"

#include <cstdlib>
#include <cstring>

namespace kcred::app {

SystemEnvironment ReadSystemEnvironment() {
  SystemEnvironment environment;
  environment.under_systemd = std::getenv("INVOCATION_ID") != nullptr;
  if (const char* runtime_dir = std::getenv("RUNTIME_DIRECTORY"); runtime_dir != nullptr) {
    environment.runtime_directory = std::string(runtime_dir, strcspn(runtime_dir, ":"));
  }
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY"); credentials != nullptr) {
    environment.credentials_directory = credentials;
  }
  return environment;
}

}  // namespace kcred::app
