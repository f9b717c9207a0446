// kcred whoami and kcred can-i: what kcredd's authorization policy says about the caller.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/broker_call.h"
#include "client/cli.h"
#include "client/render.h"
#include "common/account/access.h"
#include "common/account/account_ref.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {
namespace {

int WhoAmI(const ParsedArgs& args, CommandContext& ctx) {
  if (!args.positionals.empty()) {
    ctx.err << "kcred whoami: takes no arguments\n";
    return kExitUsage;
  }
  auto format = ParseOutputFormat(args.Get("output"));
  if (!format.ok()) {
    ctx.err << "kcred whoami: " << format.status().message() << "\n";
    return kExitUsage;
  }
  v1::WhoAmIResponse response;
  if (int code = CallBroker(ctx, "whoami",
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.WhoAmI(&rpc, v1::WhoAmIRequest(), &response);
                            });
      code != kExitOk) {
    return code;
  }
  if (*format != OutputFormat::kText) {
    absl::StatusOr<std::string> text = RenderMessage(response, *format);
    if (!text.ok()) {
      ctx.err << "kcred whoami: " << text.status().message() << "\n";
      return kExitFailed;
    }
    ctx.out << *text;
    return kExitOk;
  }
  const v1::CallerIdentity& id = response.identity();
  ctx.out << "You are " << id.display() << " (" << id.transport()
          << (id.peer().empty() ? "" : ", " + id.peer()) << ").\n"
          << "Subjects: " << absl::StrJoin(id.subjects(), ", ") << "\n";
  if (!id.certificate_sha256().empty()) {
    ctx.out << "Certificate: " << id.certificate_sha256() << "\n";
  }
  if (response.rules().empty()) {
    ctx.out << "No rule of kcredd's authorization policy names you: you may call only whoami, "
               "can-i and version.\n";
    return kExitOk;
  }
  ctx.out << "Rules that name you:\n";
  for (const v1::AuthorizationRule& rule : response.rules()) {
    ctx.out << "  " << rule.source() << "\n"
            << "    subjects: " << absl::StrJoin(rule.subjects(), ", ") << "\n"
            << "    actions:  " << absl::StrJoin(rule.actions(), ", ") << "\n"
            << "    accounts: " << absl::StrJoin(rule.accounts(), ", ") << "\n";
  }
  return kExitOk;
}

int CanI(const ParsedArgs& args, CommandContext& ctx) {
  constexpr char kCmd[] = "can-i";
  auto usage = [&](absl::string_view message) {
    ctx.err << "kcred can-i: " << message << "\n";
    return kExitUsage;
  };
  if (args.positionals.empty() || args.positionals.size() > 2) {
    return usage(
        "needs ACTION and ACCOUNT, e.g. kcred can-i get-token dev/automation/ci-bot (or kcred "
        "can-i list-clusters [CLUSTER])");
  }
  absl::StatusOr<Action> action = ParseAction(args.positionals[0]);
  if (!action.ok()) return usage(action.status().message());
  v1::CheckAccessRequest request;
  request.set_action(args.positionals[0]);
  if (*action == Action::kListClusters) {
    if (args.positionals.size() == 2) request.mutable_account()->set_cluster(args.positionals[1]);
  } else {
    if (args.positionals.size() != 2) {
      return usage(
          absl::StrCat(args.positionals[0], " applies to an account: give CLUSTER/NAMESPACE/NAME"));
    }
    absl::StatusOr<v1::AccountRef> ref = ParseAccountRef(args.positionals[1]);
    if (!ref.ok()) return usage(ref.status().message());
    *request.mutable_account() = *ref;
  }
  v1::CheckAccessResponse response;
  if (int code = CallBroker(ctx, kCmd,
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.CheckAccess(&rpc, request, &response);
                            });
      code != kExitOk) {
    // A question kcredd could not answer is not a "no".
    return code == kExitFailed ? kExitUsage + 1 : code;
  }
  if (!args.Has("quiet")) {
    ctx.out << (response.allowed() ? "yes" : "no");
    if (!response.allowed() || args.Has("explain")) ctx.out << " - " << response.reason();
    ctx.out << "\n";
  }
  return response.allowed() ? kExitOk : kExitFailed;
}

}  // namespace

void AddAccessCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      "whoami",
      "show how kcredd identifies you and which of its rules name you",
      "kcred whoami [-o text|json|yaml]",
      "Asks kcredd how it sees the caller: the identity (unix uid, user and groups from the\n"
      "socket, or the client certificate's CN, DNS and URI names), every subject its\n"
      "authorization rules can name, and the rules that name you. Any caller may ask.",
      {{"output", 'o', true, "FORMAT", "text (default), json or yaml"}},
      WhoAmI});
  commands.push_back(Command{
      "can-i",
      "ask whether kcredd lets you do ACTION on ACCOUNT (exit 0 yes, 1 no)",
      "kcred can-i ACTION CLUSTER/NAMESPACE/NAME   |   kcred can-i list-clusters [CLUSTER]",
      "Like `kubectl auth can-i`: prints yes or no (with the reason) and exits 0 for yes, 1 for\n"
      "no; 2 for a usage error and 3 when kcredd could not answer. ACTION is one of provision,\n"
      "get, list, watch, get-kubeconfig, get-token, rotate, delete, list-clusters, doctor. The\n"
      "answer comes from kcredd's authorization policy; admission limits (clusters[].policy) are\n"
      "checked only when you provision.",
      {{"quiet", 'q', false, "", "print nothing; only the exit code answers"},
       {"explain", 0, false, "", "also say which rule allows it"}},
      CanI});
}

}  // namespace kcred::client
