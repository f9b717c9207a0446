#include "devcluster/api_server.h"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "devcluster/api_error.h"
#include "devcluster/auth/rbac.h"
#include "devcluster/discovery.h"
#include "devcluster/routing.h"

namespace kcred::devcluster {
namespace {

// Fault injection's control endpoint; faults never apply to it.
constexpr absl::string_view kDevPrefix = "/kcred-dev/";

ApiServerConfig WithDefaults(ApiServerConfig config, const ServiceAccountTokens& tokens) {
  if (config.api_audiences.empty()) config.api_audiences.push_back(tokens.issuer());
  return config;
}

}  // namespace

ApiServer::ApiServer(ApiServerConfig config, ObjectStore& store, const ServiceAccountTokens& tokens,
                     FaultInjector& faults, Clock& clock, std::shared_ptr<spdlog::logger> logger)
    : config_(WithDefaults(std::move(config), tokens)),
      store_(store),
      faults_(faults),
      clock_(clock),
      logger_(std::move(logger)),
      authenticator_(config_, tokens, store, clock, logger_),
      token_controller_(config_, store, tokens, logger_),
      objects_(store, token_controller_),
      watches_(config_, store, clock),
      token_requests_(config_, store, tokens, clock, logger_),
      reviews_(config_, store, authenticator_) {}

absl::Status ApiServer::Bootstrap() { return objects_.CreateBuiltinNamespaces(); }

void ApiServer::Handle(const httplib::Request& http, httplib::Response& response) {
  const absl::Time start = clock_.Now();
  ApiRequest request{http, response, {}, {}, 200, nullptr, false, false};
  absl::Status status;
  try {
    status = Route(request);
  } catch (const nlohmann::json::exception& e) {
    // A body of the wrong shape (say, a string where an object belongs) that slipped past the
    // checks; the client sent something Kubernetes would also refuse to decode.
    const ResourceInfo* info = request.route.info;
    status = BadRequestError(absl::StrCat("the request body does not have the shape of a ",
                                          info ? info->kind : "Kubernetes object", ": ", e.what()));
  }
  if (status.ok() && !request.raw) {
    response.status = request.status;
    response.set_content(request.body.dump(), "application/json");
  } else if (!status.ok()) {
    request.status = HttpStatusCode(status);
    nlohmann::json object = StatusObject(status);
    if (object.contains("details") && object["details"].contains("retryAfterSeconds")) {
      response.set_header("Retry-After",
                          std::to_string(object["details"]["retryAfterSeconds"].get<int>()));
    }
    response.status = request.status;
    // The message may quote the request; bytes that are not UTF-8 are replaced, not thrown on.
    response.set_content(object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         "application/json");
  } else {
    request.status = response.status;  // the handler wrote the answer (watch, health, drop)
  }
  const double latency_ms = absl::ToDoubleMilliseconds(clock_.Now() - start);
  const std::string& verb = request.route.attrs.verb;
  logger_->info(
      "{} {} verb={} user={} status={} latency={:.2f}ms", http.method, http.path,
      verb.empty() ? "-" : verb, request.user.username.empty() ? "-" : request.user.username,
      request.dropped ? std::string("dropped") : std::to_string(request.status), latency_ms);
}

absl::Status ApiServer::Route(ApiRequest& request) {
  const httplib::Request& http = request.http;
  absl::StatusOr<UserInfo> user = authenticator_.AuthenticateRequest(http);
  if (!user.ok()) return user.status();
  request.user = *std::move(user);
  absl::StatusOr<devcluster::Route> route =
      ParseRoute(http.method, http.path, ParseBool(http.get_param_value("watch")));
  if (!route.ok()) return route.status();
  request.route = *std::move(route);

  if (absl::StartsWith(http.path, kDevPrefix)) return ServeFaults(request);
  bool answered = false;
  if (absl::Status s = ApplyFault(request, answered); !s.ok() || answered) return s;

  const RequestAttributes& attrs = request.route.attrs;
  if (!Authorize(store_, request.user, attrs).allowed) {
    return ForbiddenError(request.route.info, attrs.name, ForbiddenMessage(request.user, attrs));
  }
  absl::StatusOr<Handler> handler = SelectHandler(request.route);
  if (!handler.ok()) return handler.status();
  switch (*handler) {
    case Handler::kNonResource:
      return ServeNonResource(request, config_.server_address);
    case Handler::kObjects:
      return objects_.Serve(request);
    case Handler::kWatch:
      return watches_.Serve(request);
    case Handler::kTokenRequest:
      return token_requests_.Serve(request);
    case Handler::kReview:
      return reviews_.Serve(request);
  }
  return PathNotFoundError();
}

absl::Status ApiServer::ApplyFault(ApiRequest& request, bool& answered) {
  FaultDecision fault = faults_.Decide(request.http.path, request.route.attrs.verb);
  if (fault.latency > absl::ZeroDuration()) clock_.SleepFor(fault.latency);
  switch (fault.action) {
    case FaultDecision::Action::kDrop:
      // Promise a body and close the connection before sending it: the client sees a torn answer.
      answered = true;
      request.raw = true;
      request.dropped = true;
      request.response.status = 200;
      request.response.set_content_provider(
          1024, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
      return absl::OkStatus();
    case FaultDecision::Action::kError:
      if (fault.code == 429) return TooManyRequestsError(fault.retry_after_seconds);
      if (fault.code == 503) {
        request.response.set_header("Retry-After", std::to_string(fault.retry_after_seconds));
        return ServiceUnavailableError(
            "injected fault: the server is currently unable to handle the request");
      }
      return InternalServerError("injected fault");
    case FaultDecision::Action::kNone:
      break;
  }
  return absl::OkStatus();
}

absl::Status ApiServer::ServeFaults(ApiRequest& request) {
  if (request.user.username != config_.admin_user) {
    return ForbiddenError(nullptr, "",
                          absl::StrCat("forbidden: User \"", request.user.username,
                                       "\" cannot use the fault injection endpoint; only \"",
                                       config_.admin_user, "\" may"));
  }
  if (request.http.path != "/kcred-dev/faults") {
    return PathNotFoundError();
  }
  if (request.http.method == "PUT" || request.http.method == "POST") {
    nlohmann::json body = nlohmann::json::parse(request.http.body, nullptr, false);
    if (body.is_discarded()) return BadRequestError("fault config is not valid JSON");
    absl::StatusOr<FaultConfig> config = FaultConfig::FromJson(body);
    if (!config.ok()) return BadRequestError(config.status().message());
    faults_.Set(*config);
    logger_->warn("fault injection set to {}", config->ToJson().dump());
  } else if (request.http.method == "DELETE") {
    faults_.Set(FaultConfig{});
    logger_->info("fault injection cleared");
  } else if (request.http.method != "GET") {
    return KubeError(405, "MethodNotAllowed", "use GET, PUT or DELETE on /kcred-dev/faults");
  }
  request.body = faults_.Get().ToJson();
  return absl::OkStatus();
}

}  // namespace kcred::devcluster
