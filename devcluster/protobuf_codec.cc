#include "devcluster/protobuf_codec.h"

#include <map>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "devcluster/k8s_proto/authentication.pb.h"
#include "devcluster/k8s_proto/authorization.pb.h"
#include "devcluster/k8s_proto/coordination.pb.h"
#include "devcluster/k8s_proto/core.pb.h"
#include "devcluster/k8s_proto/rbac.pb.h"
#include "devcluster/k8s_proto/runtime.pb.h"

namespace kcred::devcluster {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr absl::string_view kMagic("k8s\0", 4);

// The kinds this server decodes, by "apiVersion/kind". Referencing the default instances also
// keeps the generated descriptors linked in.
const std::map<std::string, const Message*>& Prototypes() {
  namespace core = k8s::io::api::core::v1;
  namespace rbac = k8s::io::api::rbac::v1;
  namespace authn = k8s::io::api::authentication::v1;
  namespace authz = k8s::io::api::authorization::v1;
  namespace coord = k8s::io::api::coordination::v1;
  static const auto* prototypes = new std::map<std::string, const Message*>{
      {"v1/Namespace", &core::Namespace::default_instance()},
      {"v1/ServiceAccount", &core::ServiceAccount::default_instance()},
      {"v1/Secret", &core::Secret::default_instance()},
      {"v1/ConfigMap", &core::ConfigMap::default_instance()},
      {"v1/Service", &core::Service::default_instance()},
      {"rbac.authorization.k8s.io/v1/Role", &rbac::Role::default_instance()},
      {"rbac.authorization.k8s.io/v1/ClusterRole", &rbac::ClusterRole::default_instance()},
      {"rbac.authorization.k8s.io/v1/RoleBinding", &rbac::RoleBinding::default_instance()},
      {"rbac.authorization.k8s.io/v1/ClusterRoleBinding",
       &rbac::ClusterRoleBinding::default_instance()},
      {"authentication.k8s.io/v1/TokenRequest", &authn::TokenRequest::default_instance()},
      {"authentication.k8s.io/v1/TokenReview", &authn::TokenReview::default_instance()},
      {"authentication.k8s.io/v1/SelfSubjectReview", &authn::SelfSubjectReview::default_instance()},
      {"authorization.k8s.io/v1/SelfSubjectAccessReview",
       &authz::SelfSubjectAccessReview::default_instance()},
      {"authorization.k8s.io/v1/SubjectAccessReview",
       &authz::SubjectAccessReview::default_instance()},
      {"authorization.k8s.io/v1/LocalSubjectAccessReview",
       &authz::LocalSubjectAccessReview::default_instance()},
      {"coordination.k8s.io/v1/Lease", &coord::Lease::default_instance()},
  };
  return *prototypes;
}

constexpr absl::string_view kTimeType = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
constexpr absl::string_view kMicroTimeType = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
constexpr absl::string_view kIntOrStringType = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";

bool IsExtraValue(const Descriptor* d) { return d->name() == "ExtraValue"; }

// Time and MicroTime as Kubernetes writes them; null for the zero time.
nlohmann::json TimeToJson(const Message& message, bool micro) {
  const Descriptor* d = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  int64_t seconds = r->GetInt64(message, d->FindFieldByName("seconds"));
  int32_t nanos = r->GetInt32(message, d->FindFieldByName("nanos"));
  if (seconds == 0 && nanos == 0) return nullptr;
  absl::Time t = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return absl::FormatTime(micro ? "%Y-%m-%dT%H:%M:%E6SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

nlohmann::json ValueToJson(const Message& message, const FieldDescriptor* field, int index);

nlohmann::json MessageValue(const Message& message) {
  const Descriptor* d = message.GetDescriptor();
  if (d->full_name() == kTimeType) return TimeToJson(message, false);
  if (d->full_name() == kMicroTimeType) return TimeToJson(message, true);
  if (d->full_name() == kIntOrStringType) {
    // JSON writes the value itself: 8080 or "http".
    const Reflection* r = message.GetReflection();
    if (r->GetInt64(message, d->FindFieldByName("type")) == 1) {
      return r->GetString(message, d->FindFieldByName("strVal"));
    }
    return r->GetInt32(message, d->FindFieldByName("intVal"));
  }
  if (IsExtraValue(d)) {
    nlohmann::json items = nlohmann::json::array();
    const FieldDescriptor* f = d->FindFieldByName("items");
    const Reflection* r = message.GetReflection();
    for (int i = 0; i < r->FieldSize(message, f); ++i)
      items.push_back(r->GetRepeatedString(message, f, i));
    return items;
  }
  return MessageToKubeJson(message);
}

// The value of a singular field (index < 0) or of element `index` of a repeated one.
nlohmann::json ValueToJson(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field);
    case FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnum(message, field, index)->name()
                 : r->GetEnum(message, field)->name();
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value =
          rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      if (field->type() == FieldDescriptor::TYPE_BYTES) return absl::Base64Escape(value);
      return value;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageValue(rep ? r->GetRepeatedMessage(message, field, index)
                              : r->GetMessage(message, field));
  }
  return nullptr;
}

}  // namespace

bool IsKubernetesProtobuf(absl::string_view content_type) {
  absl::string_view media =
      absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));
  return media == kProtobufContentType;
}

nlohmann::json MessageToKubeJson(const Message& message) {
  nlohmann::json out = nlohmann::json::object();
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string& name = field->name();
    if (field->is_map()) {
      const Descriptor* entry = field->message_type();
      const FieldDescriptor* key_field = entry->FindFieldByName("key");
      const FieldDescriptor* value_field = entry->FindFieldByName("value");
      nlohmann::json map = nlohmann::json::object();
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        const Message& item = r->GetRepeatedMessage(message, field, i);
        std::string key = item.GetReflection()->GetString(item, key_field);
        map[key] = ValueToJson(item, value_field, -1);
      }
      out[name] = std::move(map);
    } else if (field->is_repeated()) {
      nlohmann::json list = nlohmann::json::array();
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        list.push_back(ValueToJson(message, field, i));
      }
      out[name] = std::move(list);
    } else {
      nlohmann::json value = ValueToJson(message, field, -1);
      if (value.is_null()) continue;
      if (value.is_string() && value.get_ref<const std::string&>().empty()) continue;
      // meta/v1 numbers are omitempty in JSON (generation, deletionGracePeriodSeconds); Go's
      // protobuf marshaller writes them even when zero.
      if (value.is_number() && value == 0 &&
          absl::StartsWith(message.GetDescriptor()->full_name(), "k8s.io.apimachinery.")) {
        continue;
      }
      out[name] = std::move(value);
    }
  }
  return out;
}

absl::StatusOr<nlohmann::json> DecodeKubernetesProtobuf(absl::string_view body) {
  if (body.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(
        "protobuf body does not start with the Kubernetes magic bytes \"k8s\\0\"");
  }
  k8s::io::apimachinery::pkg::runtime::Unknown unknown;
  body.remove_prefix(kMagic.size());
  if (!unknown.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError("protobuf body is not a valid runtime.Unknown envelope");
  }
  if (!unknown.contentencoding().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("protobuf body has content encoding \"",
                                                   unknown.contentencoding(),
                                                   "\"; only unencoded bodies are supported"));
  }
  const std::string& api_version = unknown.typemeta().apiversion();
  const std::string& kind = unknown.typemeta().kind();
  auto it = Prototypes().find(absl::StrCat(api_version, "/", kind));
  if (it == Prototypes().end()) {
    return absl::InvalidArgumentError(absl::StrCat("no protobuf decoding for kind \"", kind,
                                                   "\" in \"", api_version,
                                                   "\"; send this object as JSON"));
  }
  std::unique_ptr<Message> object(it->second->New());
  if (!object->ParseFromString(unknown.raw())) {
    return absl::InvalidArgumentError(
        absl::StrCat("protobuf body does not parse as ", api_version, " ", kind));
  }
  nlohmann::json json = MessageToKubeJson(*object);
  json["apiVersion"] = api_version;
  json["kind"] = kind;
  // Kubernetes' protos are proto2: a string field holding invalid UTF-8 parses (protobuf only logs
  // it), but the server keeps and answers objects as JSON, which must be UTF-8.
  try {
    (void)json.dump();
  } catch (const nlohmann::json::type_error&) {
    return absl::InvalidArgumentError(absl::StrCat("protobuf body of ", api_version, " ", kind,
                                                   " has a string field that is not UTF-8"));
  }
  return json;
}

}  // namespace kcred::devcluster
