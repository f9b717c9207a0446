// kcred-devcluster's handling of one HTTP request: the input is the request as it arrives on the
// wire (request line, headers, blank line, body); it is split the way cpp-httplib does (its own
// decode_url and parse_query_text) and handed to ApiServer::Handle, the one entry point the real
// server calls for every request, over an in-memory object store and a simulated clock. No
// listener, no TLS. Any request is answered, never a crash.
//
// Requests authenticate with "Authorization: Bearer admin-token-for-fuzzing" (the admin), or a
// ServiceAccount token the input obtained from the TokenRequest endpoint within the same run.
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "devcluster/api_server.h"
#include "devcluster/auth/tokens.h"
#include "tests/support/simulated_clock.h"

namespace {

using kcred::devcluster::ApiServer;

constexpr char kAdminToken[] = "admin-token-for-fuzzing";

const kcred::devcluster::TokenSigner& Signer() {
  static const kcred::devcluster::TokenSigner* signer = [] {
    absl::StatusOr<std::string> pem = kcred::devcluster::TokenSigner::GenerateKeyPem();
    if (!pem.ok()) std::abort();
    auto made = kcred::devcluster::TokenSigner::FromPem(*pem);
    if (!made.ok()) std::abort();
    return new kcred::devcluster::TokenSigner(*std::move(made));
  }();
  return *signer;
}

// Reads "METHOD TARGET VERSION" and the header lines as cpp-httplib's server does (CRLF or LF;
// "Name: value" with the value trimmed); the rest is the body. nullopt for what cpp-httplib
// would answer with 400 itself, before any handler.
std::optional<httplib::Request> ReadRequest(absl::string_view wire) {
  httplib::Request req;
  size_t line_end = wire.find('\n');
  if (line_end == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(wire.substr(0, line_end)), ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return std::nullopt;
  if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") return std::nullopt;
  req.method = std::string(parts[0]);
  req.version = std::string(parts[2]);
  req.target = std::string(parts[1]);
  const size_t query = req.target.find('?');
  req.path = httplib::detail::decode_url(req.target.substr(0, query), false);
  if (query != std::string::npos) {
    httplib::detail::parse_query_text(req.target.substr(query + 1), req.params);
  }
  size_t pos = line_end + 1;
  while (true) {
    line_end = wire.find('\n', pos);
    if (line_end == absl::string_view::npos) return std::nullopt;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(wire.substr(pos, line_end - pos));
    pos = line_end + 1;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) return std::nullopt;
    req.headers.emplace(std::string(line.substr(0, colon)),
                        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  req.body = std::string(wire.substr(pos));
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    kcred::Logger("devcluster-fuzz")->set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  std::optional<httplib::Request> request =
      ReadRequest(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!request.has_value()) return 0;

  kcred::testing::SimulatedClock clock(kcred::testing::SimulatedClock::SleepMode::kInstant);
  kcred::devcluster::ObjectStore store(clock);
  kcred::devcluster::FaultInjector faults;
  kcred::devcluster::ServiceAccountTokens tokens(Signer(), "https://kubernetes.default.svc");
  kcred::devcluster::ApiServerConfig config;
  config.admin_token = kcred::SecretString(kAdminToken);
  config.ca_pem = "-----BEGIN CERTIFICATE-----\nfuzz\n-----END CERTIFICATE-----\n";
  config.server_address = "127.0.0.1:6443";
  ApiServer api(config, store, tokens, faults, clock, kcred::Logger("devcluster-fuzz"));
  if (!api.Bootstrap().ok()) std::abort();
  httplib::Response response;
  api.Handle(*request, response);
  return 0;
}
