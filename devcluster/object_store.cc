#include "devcluster/object_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json_labels.h"
#include "common/uuid.h"
#include "devcluster/api_error.h"
#include "devcluster/auth/go_quote.h"
#include "devcluster/json_fields.h"

namespace kcred::devcluster {
namespace {

// The alphabet Kubernetes uses for generateName suffixes (no vowels, no confusable digits).
constexpr absl::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

std::string RandomSuffix() {
  unsigned char bytes[5];
  RAND_bytes(bytes, sizeof(bytes));
  std::string out;
  for (unsigned char b : bytes) out.push_back(kNameAlphabet[b % kNameAlphabet.size()]);
  return out;
}

}  // namespace

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

ObjectStore::ObjectStore(Clock& clock, size_t history) : clock_(clock), history_(history) {}

void ObjectStore::SetOnChange(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
}

std::string ObjectStore::Key(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(ns, "/", name);
}

void ObjectStore::NotifyChange() {
  if (on_change_) on_change_();
}

void ObjectStore::RecordLocked(std::string type, const ResourceInfo& info, absl::string_view ns,
                               const nlohmann::json& object, nlohmann::json previous) {
  WatchEvent event;
  event.resource_version = resource_version_;
  event.type = std::move(type);
  event.resource = info.resource;
  event.namespace_name = std::string(ns);
  event.object = object;
  event.previous = std::move(previous);
  events_.push_back(std::move(event));
  while (events_.size() > history_) {
    oldest_watchable_ = events_.front().resource_version;
    events_.pop_front();
  }
}

absl::StatusOr<nlohmann::json> ObjectStore::Create(const ResourceInfo& info, absl::string_view ns,
                                                   nlohmann::json object, bool dry_run) {
  if (!object.is_object()) return BadRequestError("the request body must be a JSON object");
  nlohmann::json& meta = object["metadata"];
  if (!meta.is_object()) meta = nlohmann::json::object();
  std::string name = Str(object, {"metadata", "name"});
  std::string generate_name = Str(object, {"metadata", "generateName"});
  if (name.empty() && generate_name.empty()) {
    return InvalidError(
        info, "", {{"metadata.name", "", "Required value: name or generateName is required"}});
  }
  const std::string body_ns = Str(object, {"metadata", "namespace"});
  if (info.namespaced) {
    if (!body_ns.empty() && body_ns != ns) {
      return BadRequestError(absl::StrCat(
          "the namespace of the provided object does not match the namespace sent on the "
          "request (\"",
          body_ns, "\" in the body, \"", ns, "\" in the URL)"));
    }
    meta["namespace"] = std::string(ns);
  } else {
    meta.erase("namespace");
  }
  {
    absl::MutexLock lock(&mu_);
    if (info.namespaced && !objects_["namespaces"].count(Key("", ns))) {
      return NotFoundError(*FindResource("", "namespaces"), ns);
    }
    Objects& objects = objects_[info.resource];
    if (name.empty()) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        name = absl::StrCat(generate_name, RandomSuffix());
        if (!objects.count(Key(ns, name))) break;
      }
    }
    if (absl::Status valid = info.ValidateName(name); !valid.ok()) {
      return InvalidError(info, name,
                          {{"metadata.name", go::Quote(name), std::string(valid.message())}});
    }
    if (objects.count(Key(ns, name))) return AlreadyExistsError(info, name);
    meta["name"] = name;
    meta["uid"] = NewUuid();
    meta["creationTimestamp"] = FormatTimestamp(clock_.Now());
    object["apiVersion"] = info.GroupVersion();
    object["kind"] = info.kind;
    if (dry_run) return object;
    ++resource_version_;
    meta["resourceVersion"] = absl::StrCat(resource_version_);
    objects[Key(ns, name)] = object;
    RecordLocked("ADDED", info, ns, object);
  }
  NotifyChange();
  return object;
}

absl::StatusOr<nlohmann::json> ObjectStore::Get(const ResourceInfo& info, absl::string_view ns,
                                                absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto by_resource = objects_.find(info.resource);
  if (by_resource != objects_.end()) {
    auto it = by_resource->second.find(Key(ns, name));
    if (it != by_resource->second.end()) return it->second;
  }
  return NotFoundError(info, name);
}

absl::StatusOr<ListResult> ObjectStore::List(const ResourceInfo& info, absl::string_view ns,
                                             const ListOptions& options) const {
  std::string start_after;
  if (!options.continue_token.empty()) {
    if (!absl::WebSafeBase64Unescape(options.continue_token, &start_after)) {
      return BadRequestError("the provided continue parameter is not valid");
    }
  }
  ListResult result;
  absl::ReaderMutexLock lock(&mu_);
  result.resource_version = resource_version_;
  auto by_resource = objects_.find(info.resource);
  if (by_resource == objects_.end()) return result;
  const Objects& objects = by_resource->second;
  // Keys are "namespace/name", so one namespace is one contiguous range of the map.
  const std::string prefix = ns.empty() ? "" : Key(ns, "");
  auto it = objects.lower_bound(prefix);
  if (!start_after.empty() && start_after >= prefix) it = objects.upper_bound(start_after);
  for (; it != objects.end() && absl::StartsWith(it->first, prefix); ++it) {
    const nlohmann::json& object = it->second;
    if (!SelectorMatchesObject(options.labels, object) || !options.fields.Matches(object)) {
      continue;
    }
    if (options.limit > 0 && static_cast<int64_t>(result.items.size()) == options.limit) {
      result.continue_token = absl::WebSafeBase64Escape(std::prev(it)->first);
      break;
    }
    result.items.push_back(object);
  }
  return result;
}

absl::StatusOr<nlohmann::json> ObjectStore::Update(const ResourceInfo& info, absl::string_view ns,
                                                   nlohmann::json object,
                                                   bool require_resource_version, bool dry_run) {
  if (!object.is_object()) return BadRequestError("the request body must be a JSON object");
  nlohmann::json& meta = object["metadata"];
  if (!meta.is_object()) meta = nlohmann::json::object();
  const std::string name = Str(object, {"metadata", "name"});
  const std::string rv = Str(object, {"metadata", "resourceVersion"});
  const std::string uid = Str(object, {"metadata", "uid"});
  if (info.namespaced) meta["namespace"] = std::string(ns);
  {
    absl::MutexLock lock(&mu_);
    Objects& objects = objects_[info.resource];
    auto it = objects.find(Key(ns, name));
    if (it == objects.end()) return NotFoundError(info, name);
    const nlohmann::json& current = it->second;
    if (rv.empty() && require_resource_version) {
      return InvalidError(info, name,
                          {{"metadata.resourceVersion", "0x0", "must be specified for an update"}});
    }
    if (!rv.empty() && rv != Str(current, {"metadata", "resourceVersion"})) {
      return ConflictError(info, name,
                           "the object has been modified; please apply your changes to the "
                           "latest version and try again");
    }
    if (!uid.empty() && uid != Str(current, {"metadata", "uid"})) {
      return ConflictError(
          info, name,
          absl::StrCat("Precondition failed: UID in precondition: ", uid,
                       ", UID in object meta: ", Str(current, {"metadata", "uid"})));
    }
    const nlohmann::json& current_meta = Field(current, "metadata");
    meta["uid"] = Field(current_meta, "uid");
    meta["creationTimestamp"] = Field(current_meta, "creationTimestamp");
    meta.erase("generateName");
    if (current_meta.contains("generateName")) meta["generateName"] = current_meta["generateName"];
    object["apiVersion"] = info.GroupVersion();
    object["kind"] = info.kind;
    if (dry_run) {
      meta["resourceVersion"] = Field(current_meta, "resourceVersion");
      return object;
    }
    ++resource_version_;
    meta["resourceVersion"] = absl::StrCat(resource_version_);
    nlohmann::json previous = std::exchange(it->second, object);
    RecordLocked("MODIFIED", info, ns, object, std::move(previous));
  }
  NotifyChange();
  return object;
}

absl::StatusOr<nlohmann::json> ObjectStore::Delete(const ResourceInfo& info, absl::string_view ns,
                                                   absl::string_view name,
                                                   absl::string_view expected_uid, bool dry_run) {
  nlohmann::json deleted;
  {
    absl::MutexLock lock(&mu_);
    Objects& objects = objects_[info.resource];
    auto it = objects.find(Key(ns, name));
    if (it == objects.end()) return NotFoundError(info, name);
    if (!expected_uid.empty() && Str(it->second, {"metadata", "uid"}) != expected_uid) {
      return ConflictError(
          info, name,
          absl::StrCat("Precondition failed: UID in precondition: ", expected_uid,
                       ", UID in object meta: ", Str(it->second, {"metadata", "uid"})));
    }
    if (dry_run) return it->second;
    deleted = std::move(it->second);
    objects.erase(it);
    ++resource_version_;
    deleted["metadata"]["resourceVersion"] = absl::StrCat(resource_version_);
    RecordLocked("DELETED", info, ns, deleted);
  }
  NotifyChange();
  return deleted;
}

void ObjectStore::DeleteNamespaceContents(absl::string_view ns) {
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    for (const ResourceInfo& info : AllResources()) {
      if (!info.namespaced || !info.stored) continue;
      Objects& objects = objects_[info.resource];
      const std::string prefix = Key(ns, "");
      for (auto it = objects.lower_bound(prefix);
           it != objects.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
        nlohmann::json deleted = std::move(it->second);
        it = objects.erase(it);
        ++resource_version_;
        deleted["metadata"]["resourceVersion"] = absl::StrCat(resource_version_);
        RecordLocked("DELETED", info, ns, deleted);
        changed = true;
      }
    }
  }
  if (changed) NotifyChange();
}

int64_t ObjectStore::CurrentResourceVersion() const {
  absl::ReaderMutexLock lock(&mu_);
  return resource_version_;
}

absl::StatusOr<std::vector<WatchEvent>> ObjectStore::WaitForEvents(const ResourceInfo& info,
                                                                   absl::string_view ns,
                                                                   int64_t after,
                                                                   absl::Time deadline,
                                                                   int64_t* seen_out) const {
  std::vector<WatchEvent> out;
  absl::MutexLock lock(&mu_);
  if (after < oldest_watchable_) {
    return GoneError(
        absl::StrCat("too old resource version: ", after, " (", oldest_watchable_, ")"));
  }
  int64_t seen = after;
  while (true) {
    auto ready = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || resource_version_ > seen;
    };
    if (!clock_.WaitUntil(&mu_, absl::Condition(&ready), deadline)) break;
    if (closed_) break;
    for (auto it = events_.rbegin(); it != events_.rend() && it->resource_version > seen; ++it) {
      if (it->resource == info.resource && (ns.empty() || it->namespace_name == ns)) {
        out.push_back(*it);
      }
    }
    seen = resource_version_;
    if (!out.empty()) {
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  if (seen_out != nullptr) *seen_out = seen;
  return out;
}

void ObjectStore::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool ObjectStore::closed() const {
  absl::ReaderMutexLock lock(&mu_);
  return closed_;
}

nlohmann::json ObjectStore::Snapshot() const {
  // Copy under the reader lock (changes wait only for the copy), build the JSON outside it.
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> copy;
  int64_t resource_version = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    resource_version = resource_version_;
    copy.reserve(objects_.size());
    for (const auto& [resource, by_key] : objects_) {
      std::vector<nlohmann::json>& list = copy.emplace_back(resource, 0).second;
      list.reserve(by_key.size());
      for (const auto& [key, object] : by_key) list.push_back(object);
    }
  }
  nlohmann::json objects = nlohmann::json::object();
  for (auto& [resource, list] : copy) {
    nlohmann::json array = nlohmann::json::array();
    for (nlohmann::json& object : list) array.push_back(std::move(object));
    objects[resource] = std::move(array);
  }
  return {{"resourceVersion", resource_version}, {"objects", std::move(objects)}};
}

absl::Status ObjectStore::Restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || !snapshot.contains("objects") || !snapshot["objects"].is_object() ||
      !snapshot.contains("resourceVersion") || !snapshot["resourceVersion"].is_number_integer()) {
    return absl::InvalidArgumentError(
        "state snapshot is not an object with \"resourceVersion\" and \"objects\"");
  }
  std::map<std::string, Objects, std::less<>> restored;
  for (const auto& [resource, list] : snapshot["objects"].items()) {
    if (!list.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("state snapshot: objects of \"", resource, "\" are not a list"));
    }
    Objects& objects = restored[resource];
    for (const nlohmann::json& object : list) {
      if (Str(object, {"metadata", "name"}).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("state snapshot: an object of \"", resource, "\" has no metadata.name"));
      }
      objects[Key(Str(object, {"metadata", "namespace"}), Str(object, {"metadata", "name"}))] =
          object;
    }
  }
  absl::MutexLock lock(&mu_);
  objects_ = std::move(restored);
  resource_version_ = snapshot["resourceVersion"].get<int64_t>();
  events_.clear();
  oldest_watchable_ = resource_version_;
  return absl::OkStatus();
}

std::optional<nlohmann::json> ObjectStore::Get(std::string_view resource, std::string_view ns,
                                               std::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto by_resource = objects_.find(std::string(resource));
  if (by_resource == objects_.end()) return std::nullopt;
  auto it = by_resource->second.find(
      Key(absl::string_view(ns.data(), ns.size()), absl::string_view(name.data(), name.size())));
  if (it == by_resource->second.end()) return std::nullopt;
  return it->second;
}

std::vector<nlohmann::json> ObjectStore::List(std::string_view resource,
                                              std::string_view ns) const {
  std::vector<nlohmann::json> out;
  absl::ReaderMutexLock lock(&mu_);
  auto by_resource = objects_.find(std::string(resource));
  if (by_resource == objects_.end()) return out;
  const Objects& objects = by_resource->second;
  // Only the namespace's range of keys: RBAC reads a namespace's RoleBindings on every request.
  const std::string prefix = ns.empty() ? "" : Key(absl::string_view(ns.data(), ns.size()), "");
  for (auto it = objects.lower_bound(prefix);
       it != objects.end() && absl::StartsWith(it->first, prefix); ++it) {
    out.push_back(it->second);
  }
  return out;
}

SnapshotPersister::SnapshotPersister(ObjectStore& store, Clock& clock, WriteFn write,
                                     absl::Duration interval, ErrorFn on_error)
    : store_(store),
      clock_(clock),
      write_(std::move(write)),
      interval_(interval),
      on_error_(std::move(on_error)) {}

SnapshotPersister::~SnapshotPersister() { Stop().IgnoreError(); }

absl::Status SnapshotPersister::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("the snapshot persister was started twice");
  }
  // Hooked before the first snapshot, so a change racing with it marks the state dirty.
  store_.SetOnChange([this] { MarkDirty(); });
  {
    absl::MutexLock write_lock(&write_mu_);
    const absl::Time started = clock_.Now();
    if (absl::Status s = write_(store_.Snapshot().dump()); !s.ok()) {
      store_.SetOnChange(nullptr);
      return s;
    }
    absl::MutexLock lock(&mu_);
    last_write_ = started;
    ++writes_;
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void SnapshotPersister::MarkDirty() {
  absl::MutexLock lock(&mu_);
  dirty_ = true;
}

int64_t SnapshotPersister::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

void SnapshotPersister::Loop() {
  absl::MutexLock lock(&mu_);
  auto dirty_or_stopping = [this]()
                               ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dirty_ || stopping_; };
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  while (true) {
    clock_.WaitUntil(&mu_, absl::Condition(&dirty_or_stopping), absl::InfiniteFuture());
    if (stopping_) return;
    // At most one write per interval: later changes pile up into the next snapshot. Stop() writes
    // whatever is still dirty, so leaving early here loses nothing.
    if (clock_.WaitUntil(&mu_, absl::Condition(&stopping), last_write_ + interval_)) return;
    dirty_ = false;
    mu_.Unlock();
    WriteSnapshot().IgnoreError();  // reported through on_error_; retried after the interval
    mu_.Lock();
  }
}

absl::Status SnapshotPersister::WriteSnapshot() {
  absl::MutexLock write_lock(&write_mu_);
  const absl::Time started = clock_.Now();
  absl::Status status = write_(store_.Snapshot().dump());
  bool report = false;
  {
    absl::MutexLock lock(&mu_);
    last_write_ = started;
    if (status.ok()) {
      ++writes_;
    } else {
      dirty_ = true;  // try again after the interval
    }
    report = status.ok() != last_error_.ok();
    last_error_ = status;
  }
  if (report && on_error_) on_error_(status);
  return status;
}

absl::Status SnapshotPersister::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) return last_error_;
    stopped_ = true;
    stopping_ = true;
  }
  store_.SetOnChange(nullptr);
  if (thread_.joinable()) thread_.join();
  bool dirty = false;
  {
    absl::MutexLock lock(&mu_);
    dirty = dirty_;
    dirty_ = false;
  }
  if (dirty) return WriteSnapshot();
  absl::MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace kcred::devcluster
