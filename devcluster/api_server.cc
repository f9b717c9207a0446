#include "devcluster/api_server.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json_labels.h"
#include "common/logging.h"
#include "devcluster/api_error.h"
#include "devcluster/auth/escalation.h"
#include "devcluster/patch.h"
#include "devcluster/protobuf_codec.h"

namespace kcred::devcluster {
namespace {

constexpr char kSaTokenType[] = "kubernetes.io/service-account-token";
constexpr char kSaNameAnnotation[] = "kubernetes.io/service-account.name";
constexpr char kSaUidAnnotation[] = "kubernetes.io/service-account.uid";
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";
constexpr int64_t kDefaultTokenSeconds = 3600;
constexpr int64_t kMaxTokenSeconds = int64_t{1} << 32;

// A string at a path of nested objects; "" when any step is missing or not of the right type.
std::string Str(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &j;
  for (const char* key : path) {
    if (!node->is_object()) return "";
    auto it = node->find(key);
    if (it == node->end()) return "";
    node = &*it;
  }
  return node->is_string() ? node->get<std::string>() : "";
}

const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::vector<std::string> Strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const nlohmann::json& item : j) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Static descriptions of the TokenRequest subresource, for its error messages.
const ResourceInfo& TokenRequestInfo() {
  static const ResourceInfo* info = [] {
    auto* r = new ResourceInfo;
    r->group = "authentication.k8s.io";
    r->version = "v1";
    r->resource = "tokenrequests";
    r->kind = "TokenRequest";
    r->stored = false;
    return r;
  }();
  return *info;
}

std::string DurationText(int64_t seconds) {
  if (seconds % 60 == 0 && seconds >= 60) {
    return seconds == 60 ? "1 minute" : absl::StrCat(seconds / 60, " minutes");
  }
  return seconds == 1 ? "1 second" : absl::StrCat(seconds, " seconds");
}

// Query booleans as Go's strconv.ParseBool reads them (python3-kubernetes sends "True").
bool ParseBool(const std::string& value) {
  return value == "1" || value == "t" || value == "T" || value == "true" || value == "True" ||
         value == "TRUE";
}

// kube-apiserver's RBAC escalation prevention for a write of `object` (`old`: the stored object,
// null on create). It runs after the request's own authorization and before validation, as there.
absl::Status ConfirmNoEscalation(const ObjectReader& objects, const UserInfo& user,
                                 const ResourceInfo& info, const RequestAttributes& attrs,
                                 const nlohmann::json& object, const nlohmann::json* old) {
  if (info.group != kRbacGroup) return absl::OkStatus();
  EscalationDecision decision =
      CheckEscalation(objects, user,
                      RbacWrite{info.resource, info.namespaced ? attrs.namespace_name : "",
                                attrs.name, object, old});
  if (decision.allowed) return absl::OkStatus();
  return KubeError(decision.code, decision.reason, decision.message, std::move(decision.details));
}

// The labelSelector and fieldSelector of a list or watch, into `options`. A bad selector is a
// 400 with kube-apiserver's "unable to parse requirement" prefix.
absl::Status ParseSelectors(const httplib::Request& req, const ResourceInfo& info,
                            ListOptions& options) {
  absl::StatusOr<LabelSelector> labels = LabelSelector::Parse(req.get_param_value("labelSelector"));
  if (!labels.ok()) {
    return BadRequestError(
        absl::StrCat("unable to parse requirement: ", labels.status().message()));
  }
  options.labels = *std::move(labels);
  std::vector<std::string> extra_fields;
  if (info.resource == "secrets") extra_fields.push_back("type");
  absl::StatusOr<FieldSelector> fields =
      FieldSelector::Parse(req.get_param_value("fieldSelector"), extra_fields);
  if (!fields.ok()) return BadRequestError(fields.status().message());
  options.fields = *std::move(fields);
  return absl::OkStatus();
}

}  // namespace

nlohmann::json UserInfoToJson(const UserInfo& user) {
  nlohmann::json out = {{"username", user.username}, {"groups", user.groups}};
  if (!user.uid.empty()) out["uid"] = user.uid;
  if (!user.extra.empty()) out["extra"] = user.extra;
  return out;
}

struct ApiServer::Call {
  const httplib::Request& http;
  httplib::Response& response;
  UserInfo user;
  RequestAttributes attrs;
  const ResourceInfo* info = nullptr;  // for resource requests
  bool watch = false;
  int status = 200;
  nlohmann::json body;  // the answer, unless `raw_set`
  bool raw_set = false;
};

ApiServer::ApiServer(ApiServerConfig config, ObjectStore& store, const ServiceAccountTokens& tokens,
                     FaultInjector& faults, Clock& clock, std::shared_ptr<spdlog::logger> logger)
    : config_(std::move(config)),
      store_(store),
      tokens_(tokens),
      faults_(faults),
      clock_(clock),
      logger_(std::move(logger)) {
  if (config_.api_audiences.empty()) config_.api_audiences.push_back(tokens_.issuer());
}

absl::Status ApiServer::Bootstrap() {
  const ResourceInfo& namespaces = *FindResource("", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public"}) {
    if (store_.Get("namespaces", "", name).has_value()) continue;
    nlohmann::json ns = {{"metadata", {{"name", name}}}};
    if (absl::Status s = PrepareObject(namespaces, ns, nullptr); !s.ok()) return s;
    absl::StatusOr<nlohmann::json> created = store_.Create(namespaces, "", std::move(ns));
    if (!created.ok()) {
      return absl::InternalError(
          absl::StrCat("creating namespace ", name, " at start: ", created.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<UserInfo> ApiServer::Authenticate(const httplib::Request& request) const {
  const std::string header = request.get_header_value("Authorization");
  constexpr absl::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(header).substr(0, kBearer.size()), kBearer)) {
    return UnauthorizedError();
  }
  std::string token(absl::StripAsciiWhitespace(absl::string_view(header).substr(kBearer.size())));
  if (ConstantTimeEquals(token, config_.admin_token.Reveal())) {
    UserInfo admin;
    admin.username = config_.admin_user;
    admin.groups = {"system:masters", "system:authenticated"};
    return admin;
  }
  absl::StatusOr<UserInfo> user =
      tokens_.Authenticate(token, clock_.Now(), store_, config_.api_audiences);
  if (!user.ok()) {
    logger_->debug("authentication failed for token {}: {}", kcred::Fingerprint(token),
                   user.status().message());
    return UnauthorizedError();
  }
  return user;
}

void ApiServer::Handle(const httplib::Request& request, httplib::Response& response) {
  const absl::Time start = clock_.Now();
  Call call{request, response, {}, {}, nullptr, false, 200, nullptr, false};
  absl::Status status;
  try {
    status = Route(call);
  } catch (const nlohmann::json::exception& e) {
    // A body of the wrong shape (say, a string where an object belongs) that slipped past the
    // checks; the client sent something Kubernetes would also refuse to decode.
    status = BadRequestError(absl::StrCat("the request body does not have the shape of a ",
                                          call.info ? call.info->kind : "Kubernetes object", ": ",
                                          e.what()));
  }
  bool dropped = false;
  if (status.ok() && call.raw_set) {
    // The handler wrote the answer itself (watch streams, fault drops, health).
    dropped = call.status == 0;
  } else if (status.ok()) {
    response.status = call.status;
    response.set_content(call.body.dump(), "application/json");
  } else {
    call.status = HttpStatusCode(status);
    nlohmann::json object = StatusObject(status);
    if (object.contains("details") && object["details"].contains("retryAfterSeconds")) {
      response.set_header("Retry-After",
                          std::to_string(object["details"]["retryAfterSeconds"].get<int>()));
    }
    response.status = call.status;
    response.set_content(object.dump(), "application/json");
  }
  const double latency_ms = absl::ToDoubleMilliseconds(clock_.Now() - start);
  logger_->info("{} {} verb={} user={} status={} latency={:.2f}ms", request.method, request.path,
                call.attrs.verb.empty() ? "-" : call.attrs.verb,
                call.user.username.empty() ? "-" : call.user.username,
                dropped ? std::string("dropped") : std::to_string(call.status), latency_ms);
}

absl::Status ApiServer::Route(Call& call) {
  const httplib::Request& req = call.http;
  absl::StatusOr<UserInfo> user = Authenticate(req);
  if (!user.ok()) return user.status();
  call.user = *std::move(user);

  std::vector<std::string> segs = absl::StrSplit(req.path, '/', absl::SkipEmpty());
  RequestAttributes& attrs = call.attrs;
  attrs.path = req.path;
  const std::string& method = req.method;
  call.watch = ParseBool(req.get_param_value("watch"));

  std::string group, version;
  size_t rest = 0;
  if (segs.size() >= 2 && segs[0] == "api") {
    version = segs[1];
    rest = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    rest = 3;
  }
  if (rest == 0 || rest == segs.size()) {
    attrs.resource_request = false;
    std::string lower = absl::AsciiStrToLower(method);
    attrs.verb = lower == "post" ? "create" : lower == "put" ? "update" : lower;
  } else {
    attrs.resource_request = true;
    attrs.api_group = group;
    attrs.api_version = version;
    std::vector<std::string> r(segs.begin() + rest, segs.end());
    if (r[0] == "namespaces" && r.size() >= 3 && FindResource(group, r[2]) != nullptr &&
        FindResource(group, r[2])->namespaced) {
      attrs.namespace_name = r[1];
      attrs.resource = r[2];
      if (r.size() >= 4) attrs.name = r[3];
      if (r.size() >= 5) attrs.subresource = r[4];
      if (r.size() > 5)
        return KubeError(404, "NotFound", "the server could not find the requested resource");
    } else {
      attrs.resource = r[0];
      if (r.size() >= 2) attrs.name = r[1];
      if (r.size() >= 3) attrs.subresource = r[2];
      if (r.size() > 3)
        return KubeError(404, "NotFound", "the server could not find the requested resource");
      if (attrs.resource == "namespaces") attrs.namespace_name = attrs.name;
    }
    if (method == "GET") {
      attrs.verb = !attrs.name.empty() ? "get" : call.watch ? "watch" : "list";
    } else if (method == "POST") {
      attrs.verb = "create";
    } else if (method == "PUT") {
      attrs.verb = "update";
    } else if (method == "PATCH") {
      attrs.verb = "patch";
    } else if (method == "DELETE") {
      attrs.verb = attrs.name.empty() ? "deletecollection" : "delete";
    } else {
      attrs.verb = absl::AsciiStrToLower(method);
    }
    if (version == "v1") call.info = FindResource(group, attrs.resource);
  }

  // Faults apply to everything but their own control endpoint.
  if (!absl::StartsWith(req.path, "/kcred-dev/")) {
    FaultDecision fault = faults_.Decide(req.path, attrs.verb);
    if (fault.latency > absl::ZeroDuration()) {
      clock_.SleepFor(fault.latency);
    }
    if (fault.action == FaultDecision::Action::kDrop) {
      // Promise a body and close the connection before sending it: the client sees a torn answer.
      call.raw_set = true;
      call.status = 0;
      call.response.status = 200;
      call.response.set_content_provider(1024, "application/json",
                                         [](size_t, size_t, httplib::DataSink&) { return false; });
      return absl::OkStatus();
    }
    if (fault.action == FaultDecision::Action::kError) {
      if (fault.code == 429) return TooManyRequestsError(fault.retry_after_seconds);
      if (fault.code == 503) {
        call.response.set_header("Retry-After", std::to_string(fault.retry_after_seconds));
        return ServiceUnavailableError(
            "injected fault: the server is currently unable to handle "
            "the request");
      }
      return InternalServerError("injected fault");
    }
  }

  if (absl::StartsWith(req.path, "/kcred-dev/")) return ServeFaults(call);

  Decision decision = Authorize(store_, call.user, attrs);
  if (!decision.allowed) {
    return ForbiddenError(call.info, attrs.name, ForbiddenMessage(call.user, attrs));
  }
  return Dispatch(call);
}

absl::Status ApiServer::Dispatch(Call& call) {
  const RequestAttributes& attrs = call.attrs;
  if (!attrs.resource_request) return ServeNonResource(call);
  if (call.info == nullptr) {
    return KubeError(404, "NotFound", "the server could not find the requested resource");
  }
  if (call.info->namespaced && attrs.namespace_name.empty() && attrs.verb != "list" &&
      attrs.verb != "watch") {
    return KubeError(404, "NotFound", "the server could not find the requested resource");
  }
  if (!call.info->stored) return ServeReview(call);
  if (attrs.subresource == "token" && call.info->resource == "serviceaccounts") {
    if (attrs.verb != "create") return MethodNotSupportedError(TokenRequestInfo(), attrs.verb);
    return ServeTokenRequest(call);
  }
  if (!attrs.subresource.empty()) {
    return KubeError(404, "NotFound", "the server could not find the requested resource");
  }
  if (call.watch) return ServeWatch(call);
  return ServeObjects(call);
}

nlohmann::json ApiServer::Discovery(const GroupVersionInfo& gv) const {
  nlohmann::json resources = nlohmann::json::array();
  for (const ResourceInfo& info : AllResources()) {
    if (info.group != gv.group || info.version != gv.version) continue;
    nlohmann::json r = {{"name", info.resource},
                        {"singularName", info.singular},
                        {"namespaced", info.namespaced},
                        {"kind", info.kind},
                        {"verbs", info.verbs}};
    if (!info.short_names.empty()) r["shortNames"] = info.short_names;
    resources.push_back(std::move(r));
    if (info.resource == "serviceaccounts") {
      resources.push_back({{"name", "serviceaccounts/token"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"group", "authentication.k8s.io"},
                           {"version", "v1"},
                           {"kind", "TokenRequest"},
                           {"verbs", {"create"}}});
    }
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", gv.group.empty() ? gv.version : absl::StrCat(gv.group, "/", gv.version)},
          {"resources", std::move(resources)}};
}

absl::Status ApiServer::ServeNonResource(Call& call) {
  const std::string& path = call.http.path;
  const std::string trimmed =
      absl::StripSuffix(path, "/").empty() ? "/" : std::string(absl::StripSuffix(path, "/"));
  if (call.http.method != "GET" && call.http.method != "HEAD") {
    return KubeError(405, "MethodNotAllowed",
                     absl::StrCat("the server does not allow this method on ", path));
  }
  if (trimmed == "/healthz" || trimmed == "/livez" || trimmed == "/readyz") {
    call.raw_set = true;
    call.response.status = 200;
    call.response.set_content("ok", "text/plain; charset=utf-8");
    return absl::OkStatus();
  }
  if (trimmed == "/version") {
    call.body = {{"major", "1"},
                 {"minor", "32"},
                 {"gitVersion", "v1.32.0"},
                 {"gitCommit", "kcred-devcluster"},
                 {"gitTreeState", "clean"},
                 {"buildDate", "2024-12-11T00:00:00Z"},
                 {"goVersion", "go1.23"},
                 {"compiler", "gc"},
                 {"platform", "linux/amd64"}};
    return absl::OkStatus();
  }
  if (trimmed == "/openapi/v3" || absl::StartsWith(trimmed, "/openapi/v3/")) {
    return ServeOpenApiV3(call, trimmed);
  }
  if (trimmed == "/api") {
    call.body = {{"kind", "APIVersions"},
                 {"versions", {"v1"}},
                 {"serverAddressByClientCIDRs",
                  {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", config_.server_address}}}}};
    return absl::OkStatus();
  }
  auto group_json = [](const GroupVersionInfo& gv) {
    nlohmann::json version = {{"groupVersion", absl::StrCat(gv.group, "/", gv.version)},
                              {"version", gv.version}};
    return nlohmann::json{
        {"name", gv.group}, {"versions", {version}}, {"preferredVersion", version}};
  };
  if (trimmed == "/apis") {
    nlohmann::json groups = nlohmann::json::array();
    for (const GroupVersionInfo& gv : ServedGroupVersions()) {
      if (!gv.group.empty()) groups.push_back(group_json(gv));
    }
    call.body = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
    return absl::OkStatus();
  }
  for (const GroupVersionInfo& gv : ServedGroupVersions()) {
    const std::string gv_path =
        gv.group.empty() ? "/api/v1" : absl::StrCat("/apis/", gv.group, "/", gv.version);
    if (trimmed == gv_path) {
      call.body = Discovery(gv);
      return absl::OkStatus();
    }
    if (!gv.group.empty() && trimmed == absl::StrCat("/apis/", gv.group)) {
      call.body = group_json(gv);
      call.body["kind"] = "APIGroup";
      call.body["apiVersion"] = "v1";
      return absl::OkStatus();
    }
  }
  return KubeError(404, "NotFound", "the server could not find the requested resource");
}

// A minimal OpenAPI v3: the index, and per group-version the PATCH operations of each kind with
// their fieldValidation parameter. That is what kubectl checks before it relies on server-side
// field validation for `create -f` and `apply -f`, so these work without --validate=false.
absl::Status ApiServer::ServeOpenApiV3(Call& call, const std::string& path) {
  auto gv_key = [](const GroupVersionInfo& gv) {
    return gv.group.empty() ? std::string("api/v1")
                            : absl::StrCat("apis/", gv.group, "/", gv.version);
  };
  if (path == "/openapi/v3") {
    nlohmann::json paths = nlohmann::json::object();
    for (const GroupVersionInfo& gv : ServedGroupVersions()) {
      paths[gv_key(gv)] = {{"serverRelativeURL", absl::StrCat("/openapi/v3/", gv_key(gv))}};
    }
    call.body = {{"paths", std::move(paths)}};
    return absl::OkStatus();
  }
  for (const GroupVersionInfo& gv : ServedGroupVersions()) {
    if (path != absl::StrCat("/openapi/v3/", gv_key(gv))) continue;
    nlohmann::json paths = nlohmann::json::object();
    for (const ResourceInfo& info : AllResources()) {
      if (info.group != gv.group || info.version != gv.version || !info.stored) continue;
      const std::string object_path =
          info.namespaced
              ? absl::StrCat("/", gv_key(gv), "/namespaces/{namespace}/", info.resource, "/{name}")
              : absl::StrCat("/", gv_key(gv), "/", info.resource, "/{name}");
      nlohmann::json gvk = {{"group", info.group}, {"version", info.version}, {"kind", info.kind}};
      nlohmann::json parameters = nlohmann::json::array();
      for (const char* name : {"dryRun", "fieldManager", "fieldValidation", "force"}) {
        parameters.push_back({{"name", name}, {"in", "query"}, {"schema", {{"type", "string"}}}});
      }
      paths[object_path] = {{"patch",
                             {{"operationId", absl::StrCat("patch", info.kind)},
                              {"x-kubernetes-action", "patch"},
                              {"x-kubernetes-group-version-kind", gvk},
                              {"parameters", std::move(parameters)},
                              {"responses", {{"200", {{"description", "OK"}}}}}}}};
    }
    call.body = {{"openapi", "3.0.0"},
                 {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                 {"paths", std::move(paths)}};
    return absl::OkStatus();
  }
  return KubeError(404, "NotFound", "the server could not find the requested resource");
}

absl::Status ApiServer::ServeFaults(Call& call) {
  if (call.user.username != config_.admin_user) {
    return ForbiddenError(nullptr, "",
                          absl::StrCat("forbidden: User \"", call.user.username,
                                       "\" cannot use the fault injection endpoint; only \"",
                                       config_.admin_user, "\" may"));
  }
  if (call.http.path != "/kcred-dev/faults") {
    return KubeError(404, "NotFound", "the server could not find the requested resource");
  }
  if (call.http.method == "PUT" || call.http.method == "POST") {
    nlohmann::json body = nlohmann::json::parse(call.http.body, nullptr, false);
    if (body.is_discarded()) return BadRequestError("fault config is not valid JSON");
    absl::StatusOr<FaultConfig> config = FaultConfig::FromJson(body);
    if (!config.ok()) return BadRequestError(config.status().message());
    faults_.Set(*config);
    logger_->warn("fault injection set to {}", config->ToJson().dump());
  } else if (call.http.method == "DELETE") {
    faults_.Set(FaultConfig{});
    logger_->info("fault injection cleared");
  } else if (call.http.method != "GET") {
    return KubeError(405, "MethodNotAllowed", "use GET, PUT or DELETE on /kcred-dev/faults");
  }
  call.body = faults_.Get().ToJson();
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ApiServer::ReadBody(const Call& call) const {
  const std::string content_type = call.http.get_header_value("Content-Type");
  if (IsKubernetesProtobuf(content_type)) {
    absl::StatusOr<nlohmann::json> decoded = DecodeKubernetesProtobuf(call.http.body);
    if (!decoded.ok()) return BadRequestError(decoded.status().message());
    return decoded;
  }
  absl::string_view media =
      absl::StripAsciiWhitespace(absl::string_view(content_type).substr(0, content_type.find(';')));
  if (!media.empty() && media != "application/json" && !absl::EndsWith(media, "+json")) {
    return UnsupportedMediaTypeError(content_type);
  }
  nlohmann::json body = nlohmann::json::parse(call.http.body, nullptr, false);
  if (body.is_discarded()) {
    return BadRequestError("the request body is not valid JSON");
  }
  return body;
}

absl::Status ApiServer::PrepareObject(const ResourceInfo& info, nlohmann::json& object,
                                      const nlohmann::json& old) const {
  if (!object.is_object()) return BadRequestError("the request body must be a JSON object");
  const std::string name = Str(object, {"metadata", "name"});
  const std::string body_kind = Str(object, {"kind"});
  if (!body_kind.empty() && body_kind != info.kind) {
    return BadRequestError(
        absl::StrCat("the body is a ", body_kind, " but the URL is for ", info.GroupResource()));
  }
  if (info.resource == "namespaces") {
    // Like kube-apiserver, every namespace carries its name as a label (for namespaceSelectors).
    if (!name.empty()) object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    object["spec"]["finalizers"] = nlohmann::json::array({"kubernetes"});
    object["status"]["phase"] = "Active";
  } else if (info.resource == "secrets") {
    if (Str(object, {"type"}).empty()) object["type"] = "Opaque";
    nlohmann::json& data = object["data"];
    if (!data.is_object()) data = nlohmann::json::object();
    for (const auto& [key, value] : data.items()) {
      std::string decoded;
      if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &decoded)) {
        return BadRequestError(
            absl::StrCat("Secret in version \"v1\" cannot be handled as a "
                         "Secret: illegal base64 data in data[\"",
                         key, "\"]"));
      }
    }
    if (object.contains("stringData") && object["stringData"].is_object()) {
      for (const auto& [key, value] : object["stringData"].items()) {
        if (value.is_string()) data[key] = absl::Base64Escape(value.get<std::string>());
      }
    }
    object.erase("stringData");
    if (data.empty()) object.erase("data");
    if (Str(object, {"type"}) == kSaTokenType &&
        Str(object, {"metadata", "annotations", kSaNameAnnotation}).empty()) {
      return InvalidError(
          info, name,
          {{absl::StrCat("metadata.annotations[", kSaNameAnnotation, "]"), "", "Required value"}});
    }
    if (!old.is_null() && Str(old, {"type"}) != Str(object, {"type"})) {
      return InvalidError(info, name,
                          {{"type", GoQuote(Str(object, {"type"})), "field is immutable"}});
    }
  } else if (info.resource == "roles" || info.resource == "clusterroles") {
    const nlohmann::json& rules = Field(object, "rules");
    if (!rules.is_null() && !rules.is_array()) {
      return BadRequestError(absl::StrCat(info.kind, ".rules must be a list"));
    }
    std::vector<FieldCause> causes;
    for (size_t i = 0; rules.is_array() && i < rules.size(); ++i) {
      if (Strings(Field(rules[i], "verbs")).empty()) {
        causes.push_back({absl::StrCat("rules[", i, "].verbs"), "",
                          "Required value: verbs must contain at least one value"});
      }
      if (Strings(Field(rules[i], "nonResourceURLs")).empty() &&
          Strings(Field(rules[i], "resources")).empty()) {
        causes.push_back({absl::StrCat("rules[", i, "].resources"), "",
                          "Required value: resource rules must supply at least one resource"});
      }
    }
    if (!causes.empty()) return InvalidError(info, name, causes);
  } else if (info.resource == "rolebindings" || info.resource == "clusterrolebindings") {
    const nlohmann::json& ref = Field(object, "roleRef");
    const std::string kind = Str(ref, {"kind"});
    std::vector<FieldCause> causes;
    if (Str(ref, {"apiGroup"}) != kRbacGroup) {
      causes.push_back({"roleRef.apiGroup", GoQuote(Str(ref, {"apiGroup"})),
                        "supported values: \"rbac.authorization.k8s.io\""});
    }
    if (info.resource == "rolebindings" ? (kind != "Role" && kind != "ClusterRole")
                                        : kind != "ClusterRole") {
      causes.push_back({"roleRef.kind", GoQuote(kind),
                        info.resource == "rolebindings"
                            ? "supported values: \"Role\", \"ClusterRole\""
                            : "supported values: \"ClusterRole\""});
    }
    if (Str(ref, {"name"}).empty()) causes.push_back({"roleRef.name", "", "Required value"});
    const nlohmann::json& subjects = Field(object, "subjects");
    for (size_t i = 0; subjects.is_array() && i < subjects.size(); ++i) {
      const std::string skind = Str(subjects[i], {"kind"});
      if (skind != "User" && skind != "Group" && skind != "ServiceAccount") {
        causes.push_back({absl::StrCat("subjects[", i, "].kind"), GoQuote(skind),
                          "supported values: \"ServiceAccount\", \"User\", \"Group\""});
      }
      if (Str(subjects[i], {"name"}).empty()) {
        causes.push_back({absl::StrCat("subjects[", i, "].name"), "", "Required value"});
      }
    }
    if (!old.is_null() && Field(old, "roleRef") != ref) {
      causes.push_back({"roleRef", "", "Invalid value: cannot change roleRef"});
    }
    if (!causes.empty()) return InvalidError(info, name, causes);
  } else if (info.resource == "leases") {
    const nlohmann::json& duration = Field(Field(object, "spec"), "leaseDurationSeconds");
    if (duration.is_number_integer() && duration.get<int64_t>() <= 0) {
      return InvalidError(info, name,
                          {{"spec.leaseDurationSeconds", std::to_string(duration.get<int64_t>()),
                            "must be greater than 0"}});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ApiServer::FillLegacyTokenSecret(const nlohmann::json& secret) {
  const std::string ns = Str(secret, {"metadata", "namespace"});
  const std::string name = Str(secret, {"metadata", "name"});
  const std::string sa_name = Str(secret, {"metadata", "annotations", kSaNameAnnotation});
  std::optional<nlohmann::json> sa = store_.Get("serviceaccounts", ns, sa_name);
  if (!sa.has_value()) {
    logger_->warn(
        "secret {}/{} names ServiceAccount {} which does not exist; its token stays empty", ns,
        name, sa_name);
    return secret;
  }
  const std::string sa_uid = Str(*sa, {"metadata", "uid"});
  nlohmann::json filled = secret;
  filled["metadata"]["annotations"][kSaUidAnnotation] = sa_uid;
  filled["data"]["token"] = absl::Base64Escape(tokens_.IssueLegacy(ns, sa_name, sa_uid, name));
  filled["data"]["ca.crt"] = absl::Base64Escape(config_.ca_pem);
  filled["data"]["namespace"] = absl::Base64Escape(ns);
  absl::StatusOr<nlohmann::json> updated =
      store_.Update(*FindResource("", "secrets"), ns, std::move(filled), false);
  if (updated.ok()) logger_->info("token controller filled secret {}/{} for {}", ns, name, sa_name);
  return updated;
}

absl::Status ApiServer::AfterDelete(const ResourceInfo& info, const std::string& ns,
                                    const nlohmann::json& deleted) {
  if (info.resource == "namespaces") {
    store_.DeleteNamespaceContents(Str(deleted, {"metadata", "name"}));
  } else if (info.resource == "serviceaccounts") {
    const std::string sa_name = Str(deleted, {"metadata", "name"});
    const ResourceInfo& secrets = *FindResource("", "secrets");
    for (const nlohmann::json& secret : store_.List("secrets", ns)) {
      if (Str(secret, {"type"}) == kSaTokenType &&
          Str(secret, {"metadata", "annotations", kSaNameAnnotation}) == sa_name) {
        absl::StatusOr<nlohmann::json> gone =
            store_.Delete(secrets, ns, Str(secret, {"metadata", "name"}));
        if (gone.ok()) {
          logger_->info("token controller deleted secret {}/{} of deleted ServiceAccount {}", ns,
                        Str(secret, {"metadata", "name"}), sa_name);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ApiServer::ServeObjects(Call& call) {
  const ResourceInfo& info = *call.info;
  const RequestAttributes& attrs = call.attrs;
  const std::string ns = info.namespaced ? attrs.namespace_name : "";
  const httplib::Request& req = call.http;

  const std::string dry_run_param = req.get_param_value("dryRun");
  if (!dry_run_param.empty() && dry_run_param != "All") {
    return BadRequestError(absl::StrCat("dryRun: Unsupported value: \"", dry_run_param,
                                        "\": supported values: \"All\""));
  }
  const bool dry_run = dry_run_param == "All";

  if (attrs.verb == "get") {
    absl::StatusOr<nlohmann::json> object = store_.Get(info, ns, attrs.name);
    if (!object.ok()) return object.status();
    call.body = *std::move(object);
    return absl::OkStatus();
  }

  if (attrs.verb == "list" || attrs.verb == "deletecollection") {
    ListOptions options;
    if (absl::Status s = ParseSelectors(req, info, options); !s.ok()) return s;
    if (attrs.verb == "list") {
      if (req.has_param("limit") &&
          !absl::SimpleAtoi(req.get_param_value("limit"), &options.limit)) {
        return BadRequestError("limit must be an integer");
      }
      options.continue_token = req.get_param_value("continue");
    }
    absl::StatusOr<ListResult> list = store_.List(info, ns, options);
    if (!list.ok()) return list.status();
    if (attrs.verb == "deletecollection") {
      for (const nlohmann::json& item : list->items) {
        const std::string item_ns = Str(item, {"metadata", "namespace"});
        absl::StatusOr<nlohmann::json> deleted =
            store_.Delete(info, item_ns, Str(item, {"metadata", "name"}), "", dry_run);
        if (deleted.ok() && !dry_run) {
          if (absl::Status s = AfterDelete(info, item_ns, *deleted); !s.ok()) return s;
        }
      }
      call.body = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", nlohmann::json::object()},
                   {"status", "Success"}};
      return absl::OkStatus();
    }
    nlohmann::json metadata = {{"resourceVersion", absl::StrCat(list->resource_version)}};
    if (!list->continue_token.empty()) metadata["continue"] = list->continue_token;
    call.body = {{"kind", absl::StrCat(info.kind, "List")},
                 {"apiVersion", info.GroupVersion()},
                 {"metadata", std::move(metadata)},
                 {"items", std::move(list->items)}};
    return absl::OkStatus();
  }

  if (attrs.verb == "create") {
    absl::StatusOr<nlohmann::json> body = ReadBody(call);
    if (!body.ok()) return body.status();
    if (absl::Status s = ConfirmNoEscalation(store_, call.user, info, attrs, *body, nullptr);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = PrepareObject(info, *body, nullptr); !s.ok()) return s;
    absl::StatusOr<nlohmann::json> created = store_.Create(info, ns, *std::move(body), dry_run);
    if (!created.ok()) return created.status();
    if (!dry_run && info.resource == "secrets" && Str(*created, {"type"}) == kSaTokenType) {
      absl::StatusOr<nlohmann::json> filled = FillLegacyTokenSecret(*created);
      if (filled.ok()) created = *std::move(filled);
    }
    call.status = 201;
    call.body = *std::move(created);
    return absl::OkStatus();
  }

  if (attrs.verb == "update") {
    absl::StatusOr<nlohmann::json> body = ReadBody(call);
    if (!body.ok()) return body.status();
    const std::string body_name = Str(*body, {"metadata", "name"});
    if (body_name != attrs.name) {
      return BadRequestError(absl::StrCat("the name of the object (", body_name,
                                          ") does not match the name on the URL (", attrs.name,
                                          ")"));
    }
    absl::StatusOr<nlohmann::json> current = store_.Get(info, ns, attrs.name);
    if (!current.ok()) return current.status();
    if (absl::Status s = ConfirmNoEscalation(store_, call.user, info, attrs, *body, &*current);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = PrepareObject(info, *body, *current); !s.ok()) return s;
    absl::StatusOr<nlohmann::json> updated =
        store_.Update(info, ns, *std::move(body), info.resource == "leases", dry_run);
    if (!updated.ok()) return updated.status();
    call.body = *std::move(updated);
    return absl::OkStatus();
  }

  if (attrs.verb == "patch") {
    absl::StatusOr<PatchType> type = PatchTypeFromContentType(req.get_header_value("Content-Type"));
    if (!type.ok()) return UnsupportedMediaTypeError(req.get_header_value("Content-Type"));
    nlohmann::json patch = nlohmann::json::parse(req.body, nullptr, false);
    if (patch.is_discarded()) return BadRequestError("the patch is not valid JSON");
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<nlohmann::json> current = store_.Get(info, ns, attrs.name);
      if (!current.ok()) return current.status();
      absl::StatusOr<nlohmann::json> patched = ApplyPatch(*current, patch, *type);
      if (!patched.ok()) return KubeError(422, "Invalid", patched.status().message());
      if (Str(*patched, {"metadata", "name"}) != attrs.name) {
        return BadRequestError("a patch may not change metadata.name");
      }
      const bool patch_sets_rv = !Str(*patched, {"metadata", "resourceVersion"}).empty() &&
                                 Str(*patched, {"metadata", "resourceVersion"}) !=
                                     Str(*current, {"metadata", "resourceVersion"});
      if (absl::Status s = ConfirmNoEscalation(store_, call.user, info, attrs, *patched, &*current);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = PrepareObject(info, *patched, *current); !s.ok()) return s;
      absl::StatusOr<nlohmann::json> updated =
          store_.Update(info, ns, *std::move(patched), false, dry_run);
      if (updated.ok()) {
        call.body = *std::move(updated);
        return absl::OkStatus();
      }
      // A conflict the patch did not ask for (someone wrote in between) is retried.
      if (!absl::IsAborted(updated.status()) || patch_sets_rv || attempt >= 4) {
        return updated.status();
      }
    }
  }

  if (attrs.verb == "delete") {
    if (info.resource == "namespaces" &&
        (attrs.name == "default" || attrs.name == "kube-system" || attrs.name == "kube-public")) {
      return ForbiddenError(&info, attrs.name,
                            absl::StrCat("namespaces \"", attrs.name,
                                         "\" is forbidden: this namespace may not be deleted"));
    }
    std::string expected_uid;
    if (!req.body.empty()) {
      nlohmann::json options = nlohmann::json::parse(req.body, nullptr, false);
      if (!options.is_discarded()) expected_uid = Str(options, {"preconditions", "uid"});
    }
    absl::StatusOr<nlohmann::json> deleted =
        store_.Delete(info, ns, attrs.name, expected_uid, dry_run);
    if (!deleted.ok()) return deleted.status();
    if (!dry_run) {
      if (absl::Status s = AfterDelete(info, ns, *deleted); !s.ok()) return s;
    }
    if (info.resource == "serviceaccounts" || info.resource == "namespaces") {
      call.body = *std::move(deleted);
    } else {
      call.body = SuccessStatus(info, attrs.name, Str(*deleted, {"metadata", "uid"}));
    }
    return absl::OkStatus();
  }
  return MethodNotSupportedError(info, attrs.verb);
}

absl::Status ApiServer::ServeWatch(Call& call) {
  const ResourceInfo& info = *call.info;
  const httplib::Request& req = call.http;
  const std::string ns = info.namespaced ? call.attrs.namespace_name : "";
  ListOptions selectors;
  if (absl::Status s = ParseSelectors(req, info, selectors); !s.ok()) return s;

  absl::Duration timeout = config_.max_watch_timeout;
  if (req.has_param("timeoutSeconds")) {
    int64_t seconds = 0;
    if (!absl::SimpleAtoi(req.get_param_value("timeoutSeconds"), &seconds) || seconds < 0) {
      return BadRequestError("timeoutSeconds must be a non-negative integer");
    }
    timeout = std::min(timeout, absl::Seconds(seconds));
  }

  struct WatchState {
    const ResourceInfo* info;
    std::string ns;
    LabelSelector labels;
    FieldSelector fields;
    int64_t last_rv = 0;
    absl::Time deadline;
    absl::Time last_sent;
    bool bookmarks = false;
    std::vector<nlohmann::json> initial;
  };
  auto state = std::make_shared<WatchState>();
  state->info = &info;
  state->ns = ns;
  state->labels = std::move(selectors.labels);
  state->fields = std::move(selectors.fields);
  state->deadline = clock_.Now() + timeout;
  state->last_sent = clock_.Now();
  state->bookmarks = ParseBool(req.get_param_value("allowWatchBookmarks"));

  const std::string rv_param = req.get_param_value("resourceVersion");
  if (rv_param.empty() || rv_param == "0") {
    ListOptions options;
    options.labels = state->labels;
    options.fields = state->fields;
    absl::StatusOr<ListResult> list = store_.List(info, ns, options);
    if (!list.ok()) return list.status();
    state->last_rv = list->resource_version;
    for (nlohmann::json& item : list->items) {
      state->initial.push_back({{"type", "ADDED"}, {"object", std::move(item)}});
    }
  } else if (!absl::SimpleAtoi(rv_param, &state->last_rv)) {
    return BadRequestError(absl::StrCat("resourceVersion \"", rv_param, "\" is not valid"));
  }

  ObjectStore& store = store_;
  const Clock& clock = clock_;
  call.raw_set = true;
  call.response.status = 200;
  // The media type real API servers use for watches; it also keeps cpp-httplib from gzipping the
  // stream, which would buffer events until the watch ends.
  call.response.set_chunked_content_provider(
      "application/json;stream=watch", [state, &store, &clock](size_t, httplib::DataSink& sink) {
        auto send = [&sink](const nlohmann::json& event) {
          std::string line = event.dump();
          line.push_back('\n');
          return sink.write(line.data(), line.size());
        };
        if (!state->initial.empty()) {
          for (const nlohmann::json& event : state->initial) {
            if (!send(event)) return false;
          }
          state->initial.clear();
          return true;
        }
        const absl::Time now = clock.Now();
        if (now >= state->deadline || store.closed() || !sink.is_writable()) {
          sink.done();
          return true;
        }
        int64_t seen = state->last_rv;
        absl::StatusOr<std::vector<WatchEvent>> events =
            store.WaitForEvents(*state->info, state->ns, state->last_rv,
                                std::min(state->deadline, now + absl::Seconds(1)), &seen);
        if (!events.ok()) {
          send({{"type", "ERROR"}, {"object", StatusObject(events.status())}});
          sink.done();
          return true;
        }
        auto matches = [&state](const nlohmann::json& object) {
          if (!object.is_object()) return false;
          return SelectorMatchesObject(state->labels, object) && state->fields.Matches(object);
        };
        for (const WatchEvent& event : *events) {
          // As kube-apiserver does for filtered watches: an object that starts matching is
          // ADDED, one that stops matching is DELETED.
          std::string type = event.type;
          const bool now_matches = matches(event.object);
          if (type == "MODIFIED") {
            const bool matched_before = matches(event.previous);
            if (!now_matches && !matched_before) continue;
            if (!matched_before) type = "ADDED";
            if (!now_matches) type = "DELETED";
          } else if (!now_matches) {
            continue;
          }
          if (!send({{"type", type}, {"object", event.object}})) return false;
          state->last_sent = clock.Now();
        }
        state->last_rv = std::max(state->last_rv, seen);
        if (state->bookmarks && clock.Now() - state->last_sent > absl::Seconds(10)) {
          nlohmann::json bookmark = {
              {"type", "BOOKMARK"},
              {"object",
               {{"kind", state->info->kind},
                {"apiVersion", state->info->GroupVersion()},
                {"metadata", {{"resourceVersion", absl::StrCat(state->last_rv)}}}}}};
          if (!send(bookmark)) return false;
          state->last_sent = clock.Now();
        }
        return true;
      });
  return absl::OkStatus();
}

absl::Status ApiServer::ServeTokenRequest(Call& call) {
  const std::string& ns = call.attrs.namespace_name;
  const std::string& sa_name = call.attrs.name;
  const ResourceInfo& sa_info = *FindResource("", "serviceaccounts");
  absl::StatusOr<nlohmann::json> body = ReadBody(call);
  if (!body.ok()) return body.status();
  absl::StatusOr<nlohmann::json> sa = store_.Get(sa_info, ns, sa_name);
  if (!sa.ok()) return sa.status();
  const nlohmann::json& spec = Field(*body, "spec");

  int64_t seconds = kDefaultTokenSeconds;
  const nlohmann::json& requested = Field(spec, "expirationSeconds");
  if (requested.is_number_integer()) seconds = requested.get<int64_t>();
  const int64_t min_seconds = absl::ToInt64Seconds(config_.min_token_expiration);
  if (seconds < min_seconds) {
    return InvalidError(
        TokenRequestInfo(), sa_name,
        {{"spec.expirationSeconds", std::to_string(seconds),
          absl::StrCat("may not specify a duration less than ", DurationText(min_seconds))}});
  }
  if (seconds > kMaxTokenSeconds) {
    return InvalidError(TokenRequestInfo(), sa_name,
                        {{"spec.expirationSeconds", std::to_string(seconds),
                          "may not specify a duration larger than 2^32 seconds"}});
  }
  const int64_t max_seconds = absl::ToInt64Seconds(config_.max_token_expiration);
  if (max_seconds > 0 && seconds > max_seconds) {
    call.response.set_header("Warning",
                             absl::StrCat("299 - \"requested expiration of ", seconds,
                                          " seconds shortened to ", max_seconds, " seconds\""));
    seconds = max_seconds;
  }

  std::vector<std::string> audiences = Strings(Field(spec, "audiences"));
  if (audiences.empty()) audiences = config_.api_audiences;

  BoundTokenRequest request;
  request.namespace_name = ns;
  request.service_account_name = sa_name;
  request.service_account_uid = Str(*sa, {"metadata", "uid"});
  request.audiences = audiences;
  request.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
  request.expires_at = request.issued_at + absl::Seconds(seconds);

  nlohmann::json bound_ref = nullptr;
  const nlohmann::json& ref = Field(spec, "boundObjectRef");
  if (ref.is_object() && !Str(ref, {"kind"}).empty()) {
    const std::string kind = Str(ref, {"kind"});
    const std::string ref_name = Str(ref, {"name"});
    const std::string ref_uid = Str(ref, {"uid"});
    if (kind != "Secret") {
      return BadRequestError(absl::StrCat("cannot bind token for serviceaccount \"", sa_name,
                                          "\" to object of type ", kind,
                                          "; kcred-devcluster binds tokens to Secrets only"));
    }
    absl::StatusOr<nlohmann::json> secret = store_.Get(*FindResource("", "secrets"), ns, ref_name);
    if (!secret.ok()) return secret.status();
    const std::string secret_uid = Str(*secret, {"metadata", "uid"});
    if (!ref_uid.empty() && ref_uid != secret_uid) {
      return KubeError(409, "Conflict",
                       absl::StrCat("Operation cannot be fulfilled on Secret \"", ref_name,
                                    "\": the UID in the bound object reference (", ref_uid,
                                    ") does not match the UID in record. The object might have "
                                    "been deleted and then recreated"),
                       {{"name", ref_name}, {"kind", "Secret"}});
    }
    request.bound_secret = SecretRef{ref_name, secret_uid};
    bound_ref = {{"kind", "Secret"}, {"apiVersion", "v1"}, {"name", ref_name}, {"uid", secret_uid}};
  }

  const std::string token = tokens_.IssueBound(request);
  call.status = 201;
  call.body = {
      {"kind", "TokenRequest"},
      {"apiVersion", "authentication.k8s.io/v1"},
      {"metadata",
       {{"name", sa_name},
        {"namespace", ns},
        {"creationTimestamp", FormatTimestamp(request.issued_at)}}},
      {"spec",
       {{"audiences", audiences}, {"expirationSeconds", seconds}, {"boundObjectRef", bound_ref}}},
      {"status", {{"token", token}, {"expirationTimestamp", FormatTimestamp(request.expires_at)}}}};
  logger_->info("issued token {} for {}/{} valid {}s", kcred::Fingerprint(token), ns, sa_name,
                seconds);
  return absl::OkStatus();
}

absl::Status ApiServer::ServeReview(Call& call) {
  const ResourceInfo& info = *call.info;
  if (call.attrs.verb != "create" || !call.attrs.name.empty()) {
    return MethodNotSupportedError(info, call.attrs.verb);
  }
  absl::StatusOr<nlohmann::json> body = ReadBody(call);
  if (!body.ok()) return body.status();
  nlohmann::json spec = Field(*body, "spec");
  if (spec.is_null()) spec = nlohmann::json::object();
  nlohmann::json status;

  auto attributes_from = [](const nlohmann::json& spec, RequestAttributes& attrs) -> bool {
    const nlohmann::json& resource = Field(spec, "resourceAttributes");
    const nlohmann::json& non_resource = Field(spec, "nonResourceAttributes");
    if (resource.is_object()) {
      attrs.resource_request = true;
      attrs.namespace_name = Str(resource, {"namespace"});
      attrs.verb = Str(resource, {"verb"});
      attrs.api_group = Str(resource, {"group"});
      attrs.api_version = Str(resource, {"version"});
      attrs.resource = Str(resource, {"resource"});
      attrs.subresource = Str(resource, {"subresource"});
      attrs.name = Str(resource, {"name"});
      return true;
    }
    if (non_resource.is_object()) {
      attrs.resource_request = false;
      attrs.path = Str(non_resource, {"path"});
      attrs.verb = Str(non_resource, {"verb"});
      return true;
    }
    return false;
  };
  auto decide = [this](const UserInfo& user, const RequestAttributes& attrs) {
    Decision decision = Authorize(store_, user, attrs);
    nlohmann::json out = {{"allowed", decision.allowed}};
    if (!decision.reason.empty()) out["reason"] = decision.reason;
    return out;
  };

  if (info.resource == "selfsubjectreviews") {
    status = {{"userInfo", UserInfoToJson(call.user)}};
  } else if (info.resource == "tokenreviews") {
    const std::string token = Str(spec, {"token"});
    std::vector<std::string> audiences = Strings(Field(spec, "audiences"));
    if (audiences.empty()) audiences = config_.api_audiences;
    if (token.empty()) {
      return InvalidError(info, "",
                          {{"spec.token", "", "Required value: token must not be empty"}});
    }
    if (ConstantTimeEquals(token, config_.admin_token.Reveal())) {
      status = {{"authenticated", true},
                {"user",
                 {{"username", config_.admin_user},
                  {"groups", {"system:masters", "system:authenticated"}}}},
                {"audiences", audiences}};
    } else {
      absl::StatusOr<UserInfo> user = tokens_.Authenticate(token, clock_.Now(), store_, audiences);
      if (user.ok()) {
        status = {
            {"authenticated", true}, {"user", UserInfoToJson(*user)}, {"audiences", audiences}};
      } else {
        status = {{"authenticated", false}, {"error", std::string(user.status().message())}};
      }
    }
  } else if (info.resource == "selfsubjectaccessreviews") {
    RequestAttributes attrs;
    if (!attributes_from(spec, attrs)) {
      return InvalidError(info, "",
                          {{"spec.resourceAttributes", "",
                            "Required value: exactly one of nonResourceAttributes or "
                            "resourceAttributes must be specified"}});
    }
    status = decide(call.user, attrs);
  } else {  // subjectaccessreviews, localsubjectaccessreviews
    RequestAttributes attrs;
    if (!attributes_from(spec, attrs)) {
      return InvalidError(info, "",
                          {{"spec.resourceAttributes", "",
                            "Required value: exactly one of nonResourceAttributes or "
                            "resourceAttributes must be specified"}});
    }
    if (info.resource == "localsubjectaccessreviews") {
      if (!attrs.resource_request) {
        return InvalidError(
            info, "",
            {{"spec.nonResourceAttributes", "", "Forbidden: disallowed on this kind of request"}});
      }
      if (attrs.namespace_name != call.attrs.namespace_name) {
        return InvalidError(info, "",
                            {{"spec.resourceAttributes.namespace", GoQuote(attrs.namespace_name),
                              "must match metadata.namespace"}});
      }
    }
    UserInfo subject;
    subject.username = Str(spec, {"user"});
    subject.uid = Str(spec, {"uid"});
    subject.groups = Strings(Field(spec, "groups"));
    const nlohmann::json& extra = Field(spec, "extra");
    if (extra.is_object()) {
      for (const auto& [key, values] : extra.items()) subject.extra[key] = Strings(values);
    }
    if (subject.username.empty() && subject.groups.empty()) {
      return InvalidError(
          info, "",
          {{"spec.user", "", "Required value: at least one of user or group must be specified"}});
    }
    status = decide(subject, attrs);
  }

  nlohmann::json metadata = Field(*body, "metadata");
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  metadata["creationTimestamp"] = nullptr;
  if (info.namespaced) metadata["namespace"] = call.attrs.namespace_name;
  call.status = 201;
  call.body = {{"kind", info.kind},
               {"apiVersion", info.GroupVersion()},
               {"metadata", metadata},
               {"status", status}};
  if (info.resource != "selfsubjectreviews") call.body["spec"] = spec;
  return absl::OkStatus();
}

}  // namespace kcred::devcluster
