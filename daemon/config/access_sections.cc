// The access sections of kcredd's configuration: authorization (who may do what), audit and
// limits.

#include <grp.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/account/access.h"
#include "common/account/account_ref.h"
#include "common/account/spec_yaml.h"
#include "common/files.h"
#include "common/label_selector.h"
#include "common/names.h"
#include "common/openssl.h"
#include "common/status.h"
#include "daemon/config/config_reader.h"

namespace kcred::config::internal {
namespace {

// A size in bytes: a number with an optional unit (KiB, MiB, GiB, or K, M, G as powers of 1024),
// e.g. "100MiB".
absl::StatusOr<int64_t> ParseSize(const Reader& r, const YAML::Node& node,
                                  const std::string& path) {
  if (!node.IsScalar()) return r.Error(node, path, "expected a size such as 100MiB");
  absl::string_view text = node.Scalar();
  int64_t unit = 1;
  for (auto [suffix, factor] : {std::pair<absl::string_view, int64_t>{"KiB", 1 << 10},
                                {"MiB", 1 << 20},
                                {"GiB", int64_t{1} << 30},
                                {"K", 1 << 10},
                                {"M", 1 << 20},
                                {"G", int64_t{1} << 30}}) {
    if (absl::ConsumeSuffix(&text, suffix)) {
      unit = factor;
      break;
    }
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0 || value > (int64_t{1} << 40) / unit) {
    return r.Error(node, path,
                   absl::StrCat("\"", node.Scalar(), "\" is not a size such as 100MiB or 1GiB"));
  }
  return value * unit;
}

}  // namespace

// `authorization:`: rules, each granting actions on account globs to subjects.
absl::StatusOr<AuthorizationConfig> ParseAuthorization(const Reader& r, const YAML::Node& node) {
  AuthorizationConfig authz;
  authz.configured = true;
  KCRED_RETURN_IF_ERROR(r.ExpectMap(node, "authorization", {"rules"}));
  if (!node["rules"]) return authz;  // a section without rules denies everyone, deliberately
  const YAML::Node rules = node["rules"];
  if (rules.IsSequence() && rules.size() == 0) return authz;
  if (!rules.IsSequence()) {
    return r.Error(rules, "authorization.rules",
                   "expected a list of rules, each with subjects, actions and accounts");
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const YAML::Node item = rules[i];
    const std::string path = absl::StrCat("authorization.rules[", i, "]");
    KCRED_RETURN_IF_ERROR(r.ExpectMap(item, path, {"accounts", "actions", "subjects"}));
    AuthorizationRule rule;
    for (const char* key : {"subjects", "actions", "accounts"}) {
      if (!item[key]) {
        return r.Error(item, path, absl::StrCat("missing required key \"", key, "\""));
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.subjects, r.StringList(item["subjects"], path + ".subjects"));
    for (std::size_t j = 0; j < rule.subjects.size(); ++j) {
      if (auto s = ValidateSubject(rule.subjects[j]); !s.ok()) {
        return r.Error(item["subjects"][j], absl::StrCat(path, ".subjects[", j, "]"), s.message());
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.actions, r.StringList(item["actions"], path + ".actions"));
    for (std::size_t j = 0; j < rule.actions.size(); ++j) {
      if (rule.actions[j] == "*") continue;
      if (auto a = ParseAction(rule.actions[j]); !a.ok()) {
        return r.Error(item["actions"][j], absl::StrCat(path, ".actions[", j, "]"),
                       a.status().message());
      }
    }
    KCRED_ASSIGN_OR_RETURN(rule.accounts, r.StringList(item["accounts"], path + ".accounts"));
    for (std::size_t j = 0; j < rule.accounts.size(); ++j) {
      if (auto p = ParseAccountPattern(rule.accounts[j]); !p.ok()) {
        return r.Error(item["accounts"][j], absl::StrCat(path, ".accounts[", j, "]"),
                       p.status().message());
      }
    }
    for (const char* key : {"subjects", "actions", "accounts"}) {
      if (item[key].size() == 0) {
        return r.Error(item[key], absl::StrCat(path, ".", key),
                       "must not be empty: a rule that names nothing grants nothing");
      }
    }
    rule.source = absl::StrCat(path, " (", Where(r, item), ")");
    authz.rules.push_back(std::move(rule));
  }
  return authz;
}

// `audit:`: where records go and whether secret-returning calls depend on them.
absl::StatusOr<AuditConfig> ParseAudit(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, "audit", {"max_files", "max_size", "path", "required", "sink"}));
  AuditConfig audit;
  if (node["sink"]) {
    KCRED_ASSIGN_OR_RETURN(std::string sink, r.String(node["sink"], "audit.sink"));
    if (sink == "file") {
      audit.sink = AuditConfig::Sink::kFile;
    } else if (sink == "journal") {
      audit.sink = AuditConfig::Sink::kJournal;
    } else {
      return r.Error(node["sink"], "audit.sink",
                     absl::StrCat("unknown sink \"", sink,
                                  "\"; use file (JSON lines) or journal; the audit log cannot be "
                                  "turned off"));
    }
  }
  if (node["path"]) {
    if (audit.sink != AuditConfig::Sink::kFile) {
      return r.Error(node["path"], "audit.path", "only with sink: file");
    }
    KCRED_ASSIGN_OR_RETURN(audit.path, r.NonEmptyString(node["path"], "audit.path"));
    if (audit.path.front() != '/') {
      return r.Error(node["path"], "audit.path", "must be an absolute path");
    }
  }
  if (node["max_size"]) {
    KCRED_ASSIGN_OR_RETURN(audit.max_bytes, ParseSize(r, node["max_size"], "audit.max_size"));
    if (audit.max_bytes < 4096) {
      return r.Error(node["max_size"], "audit.max_size", "must be at least 4KiB");
    }
  }
  if (node["max_files"]) {
    KCRED_ASSIGN_OR_RETURN(audit.max_files, r.Int(node["max_files"], "audit.max_files"));
    if (audit.max_files < 1 || audit.max_files > 1000) {
      return r.Error(node["max_files"], "audit.max_files", "must lie between 1 and 1000");
    }
  }
  if (node["required"]) {
    KCRED_ASSIGN_OR_RETURN(audit.required, r.Bool(node["required"], "audit.required"));
  }
  return audit;
}

absl::StatusOr<LimitsConfig> ParseLimits(const Reader& r, const YAML::Node& node) {
  KCRED_RETURN_IF_ERROR(
      r.ExpectMap(node, "limits",
                  {"calls_per_caller", "secret_reads_burst", "secret_reads_per_second",
                   "watches_per_caller", "watches_total"}));
  LimitsConfig limits;
  for (auto [key, field] :
       {std::pair<const char*, int*>{"calls_per_caller", &limits.calls_per_caller},
        {"watches_per_caller", &limits.watches_per_caller},
        {"watches_total", &limits.watches_total},
        {"secret_reads_burst", &limits.secret_reads_burst}}) {
    if (!node[key]) continue;
    KCRED_ASSIGN_OR_RETURN(*field, r.Int(node[key], YamlReader::Join("limits", key)));
    if (*field < 1)
      return r.Error(node[key], YamlReader::Join("limits", key), "must be at least 1");
  }
  if (node["secret_reads_per_second"]) {
    KCRED_ASSIGN_OR_RETURN(
        limits.secret_reads_per_second,
        r.Double(node["secret_reads_per_second"], "limits.secret_reads_per_second"));
    if (!(limits.secret_reads_per_second > 0)) {
      return r.Error(node["secret_reads_per_second"], "limits.secret_reads_per_second",
                     "must be positive");
    }
  }
  if (limits.watches_per_caller > limits.watches_total) {
    return r.Error(node, "limits", "watches_per_caller must not exceed watches_total");
  }
  return limits;
}

}  // namespace kcred::config::internal
