// kcred doctor: the drift check of kcredd's accounts against their clusters, and its repairs.
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/broker_call.h"
#include "client/cli.h"
#include "client/render.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {
namespace {

// The check reads every account's objects on every cluster (and repairs them with --fix), so
// unless --timeout says otherwise it gets a long deadline.
constexpr absl::Duration kDoctorTimeout = absl::Minutes(10);

// "OBJECT_MISSING" for DRIFT_KIND_OBJECT_MISSING.
std::string KindName(v1::DriftKind kind) {
  return std::string(absl::StripPrefix(v1::DriftKind_Name(kind), "DRIFT_KIND_"));
}

std::string AccountName(const v1::DoctorFinding& finding) {
  if (!finding.has_account()) return "-";
  const v1::AccountRef& ref = finding.account();
  return absl::StrCat(ref.cluster(), "/", ref.namespace_(), "/", ref.name());
}

int Doctor(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "doctor";
  if (args.positionals.size() > 1) {
    return UsageError(
        ctx, kCmd,
        absl::StrCat("takes at most one CLUSTER (got ", args.positionals.size(), " arguments)"));
  }
  std::string output = args.Get("output");
  if (output == "table") output.clear();
  auto format = ParseOutputFormat(output);
  if (!format.ok()) {
    return UsageError(ctx, kCmd, absl::StrCat(format.status().message(), " (or table)"));
  }
  v1::DoctorRequest request;
  if (!args.positionals.empty()) request.set_cluster(args.positionals[0]);
  request.set_namespace_(args.Get("namespace"));
  request.set_fix(args.Has("fix"));
  ConnectionOptions connection = ctx.connection;
  if (!args.Has("timeout")) connection.timeout = kDoctorTimeout;
  v1::DoctorResponse response;
  if (int code = CallBroker(ctx, kCmd, connection,
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.Doctor(&rpc, request, &response);
                            });
      code != kExitOk) {
    return code == kExitFailed ? kExitUsage + 1 : code;
  }

  int remaining = 0;
  int repaired = 0;
  for (const v1::DoctorFinding& finding : response.findings()) {
    finding.repaired() ? ++repaired : ++remaining;
  }
  int accounts = 0;
  int objects = 0;
  std::vector<std::string> unchecked;
  for (const v1::DoctorCluster& cluster : response.clusters()) {
    accounts += cluster.accounts_checked();
    objects += cluster.objects_checked();
    if (!cluster.error().empty()) {
      unchecked.push_back(
          absl::StrCat("cluster ", cluster.name(), ": not checked: ", cluster.error()));
    }
  }
  const bool clean = remaining == 0 && unchecked.empty();

  if (*format != OutputFormat::kText) {
    absl::StatusOr<std::string> text = RenderMessage(response, *format, "findings");
    if (!text.ok()) {
      ctx.err << "kcred doctor: " << text.status().message() << "\n";
      return kExitUsage + 1;
    }
    ctx.out << *text;
    return clean ? kExitOk : kExitFailed;
  }
  if (!response.findings().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const v1::DoctorFinding& finding : response.findings()) {
      std::string state = finding.repaired() ? "repaired" : (request.fix() ? "open" : "drift");
      std::string detail = finding.detail();
      if (!finding.repair_error().empty()) absl::StrAppend(&detail, "; ", finding.repair_error());
      rows.push_back({finding.cluster(), KindName(finding.kind()), AccountName(finding),
                      finding.has_object() ? FormatObject(finding.object()) : "-", state, detail});
    }
    ctx.out << RenderTable({"CLUSTER", "KIND", "ACCOUNT", "OBJECT", "STATE", "DETAIL"}, rows);
  }
  for (const std::string& line : unchecked) ctx.out << line << "\n";
  ctx.out << (clean ? "no drift: " : "drift: ") << accounts << " account(s) and " << objects
          << " object(s) checked on " << response.clusters_size() << " cluster(s), "
          << response.findings_size() << " finding(s)";
  if (request.fix()) ctx.out << ", " << repaired << " repaired, " << remaining << " left";
  if (!request.fix() && remaining > 0) ctx.out << "; kcred doctor --fix repairs what it can";
  ctx.out << "\n";
  return clean ? kExitOk : kExitFailed;
}

}  // namespace

void AddDoctorCommand(std::vector<Command>& commands) {
  commands.push_back(Command{
      "doctor",
      "check kcredd's accounts against their clusters (drift), and repair with --fix",
      "kcred doctor [CLUSTER] [--namespace NS] [--fix] [-o table|json|yaml]",
      "Compares what kcredd recorded with each cluster (or only CLUSTER) and prints one line per\n"
      "finding, then a summary line:\n"
      "  OBJECT_MISSING      an object the account's spec needs is gone (e.g. a RoleBinding)\n"
      "  OBJECT_CHANGED      an object differs from the spec (Role rules, binding subjects or\n"
      "                      roleRef, labels) or is no longer kcred's\n"
      "  ORPHAN_OBJECT       a kcred-labelled object no account owns\n"
      "  TOKEN_NOT_ACCEPTED  the cluster does not accept the current token (TokenReview)\n"
      "  TOKEN_NOT_REVOKED   a previous token past its revoke time still works\n"
      "  CHECK_FAILED        the account could not be checked (the detail says why)\n"
      "--fix repairs what kcred can: it reconciles the account to its recorded spec (needs the\n"
      "action provision on it), rotates a token that is not accepted and revokes overdue ones\n"
      "(rotate), and deletes orphans (delete on the account their labels name). Only accounts on\n"
      "which kcredd's policy grants you doctor are checked.\n"
      "\n"
      "Exit status: 0 when no drift remains, 1 when drift was found (with --fix: when some could\n"
      "not be repaired) or a cluster could not be checked, 2 for a usage error, 3 when kcredd\n"
      "could not be asked.\n"
      "\n"
      "Examples:\n"
      "  kcred doctor\n"
      "  kcred doctor prod-eu --fix\n"
      "  kcred doctor -o json",
      {{"fix", 0, false, "", "repair what can be repaired"},
       {"namespace", 'n', true, "NAMESPACE", "only the accounts of this namespace"},
       {"output", 'o', true, "table|json|yaml",
        "table (default), or the API response as JSON "
        "or YAML"}},
      Doctor});
}

}  // namespace kcred::client
