// kcred kubeconfig, provision, get, list, rotate, delete and clusters: the account commands.
#include <cstdlib>
#include <iterator>
#include <memory>
#include <ostream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/arguments.h"
#include "client/broker_call.h"
#include "client/cli.h"
#include "client/kubeconfig_file.h"
#include "client/provision_spec.h"
#include "client/render.h"
#include "common/files.h"
#include "common/kubeconfig.h"
#include "common/token_refresh.h"
#include "proto/kcred/v1/broker.grpc.pb.h"

namespace kcred::client {
namespace {

using Stub = v1::CredentialBroker::Stub;

int Failed(CommandContext& ctx, absl::string_view command, absl::string_view message) {
  ctx.err << "kcred " << command << ": " << message << "\n";
  return kExitFailed;
}

// Provisioning, rotation and deletion call the cluster (legacy tokens wait for its token
// controller), so unless --timeout says otherwise they get a longer deadline than reads.
constexpr absl::Duration kClusterCallTimeout = absl::Seconds(60);

ConnectionOptions ClusterCall(const ParsedArgs& args, const CommandContext& ctx) {
  ConnectionOptions options = ctx.connection;
  if (!args.Has("timeout")) options.timeout = kClusterCallTimeout;
  return options;
}

// The single CLUSTER/NAMESPACE/NAME argument of a command.
absl::StatusOr<v1::AccountRef> OneAccount(const ParsedArgs& args, absl::string_view command) {
  if (args.positionals.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs the account as CLUSTER/NAMESPACE/NAME, e.g. kcred ", command,
                     " dev/automation/ci-bot"));
  }
  if (args.positionals.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "takes one account, got ", args.positionals.size(), " arguments (",
        absl::StrJoin(args.positionals, " "), "), e.g. kcred ", command, " dev/automation/ci-bot"));
  }
  return ParseAccountRef(args.positionals[0]);
}

// Prints `message` as text or -o json|yaml; returns the exit code.
int PrintMessage(CommandContext& ctx, absl::string_view command,
                 const google::protobuf::Message& message, OutputFormat format,
                 const std::string& list_field = "") {
  auto text = RenderMessage(message, format, list_field);
  if (!text.ok()) return Failed(ctx, command, text.status().message());
  ctx.out << *text;
  return kExitOk;
}

// ---- kcred kubeconfig ----------------------------------------------------------------------

int Kubeconfig(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "kubeconfig";
  auto ref = OneAccount(args, kCmd);
  if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
  const std::string output = args.Get("output");
  if (args.Has("output") && args.Has("merge")) {
    return UsageError(ctx, kCmd,
                      "-o FILE and --merge are exclusive: write a separate file or merge into your "
                      "kubeconfig");
  }
  if (args.Has("set-current") && !args.Has("merge")) {
    return UsageError(ctx, kCmd,
                      "--set-current only applies with --merge (a file of its own already has the "
                      "account's context as current-context)");
  }
  if (args.Has("output") && output.empty()) {
    return UsageError(ctx, kCmd, "-o needs a file name (or - for stdout)");
  }
  std::string merge_target;
  if (args.Has("merge")) {
    auto target = ResolveMergeTarget(std::getenv("KUBECONFIG"), std::getenv("HOME"));
    if (!target.ok()) return UsageError(ctx, kCmd, target.status().message());
    merge_target = *target;
  }

  v1::GetKubeconfigRequest request;
  *request.mutable_ref() = *ref;
  v1::GetKubeconfigResponse response;
  if (int code = CallBroker(ctx, kCmd,
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.GetKubeconfig(&rpc, request, &response);
                            });
      code != kExitOk) {
    return code;
  }

  const absl::Time now = ctx.clock.Now();
  std::string expiry =
      response.has_expire_time()
          ? absl::StrCat("token expires ", FormatTimestamp(true, response.expire_time(), now))
          : "token does not expire";
  // The entry to write ourselves; unused when kcredd's kubeconfig goes out as it is.
  absl::StatusOr<KubeconfigEntry> entry = KubeconfigEntry();
  if (args.Has("exec")) {
    auto self = SelfExecutablePath();
    if (!self.ok()) return Failed(ctx, kCmd, self.status().message());
    entry = ExecEntryFromResponse(response, KcredTokenPlugin(*self, *ref, ctx.connection));
    expiry = absl::StrCat("its user runs ", *self, " token ", FormatAccountRef(*ref));
  } else if (args.Has("merge")) {
    entry = EntryFromResponse(response);
  }
  if (!entry.ok()) return Failed(ctx, kCmd, entry.status().message());
  if (args.Has("merge")) {
    if (absl::Status s = MergeIntoFile(merge_target, *entry, args.Has("set-current")); !s.ok()) {
      return Failed(ctx, kCmd, s.message());
    }
    ctx.out << "merged context \"" << entry->context_name << "\" of " << FormatAccountRef(*ref)
            << " into " << merge_target << " (" << expiry << ")"
            << (args.Has("set-current") ? "; it is now the current context" : "") << "\n";
    return kExitOk;
  }
  const std::string kubeconfig =
      args.Has("exec") ? RenderKubeconfig(*entry) : response.kubeconfig();
  if (args.Has("output") && output != "-") {
    if (absl::Status s = WriteFileAtomic(output, kubeconfig, 0600); !s.ok()) {
      return Failed(ctx, kCmd, s.message());
    }
    ctx.out << "wrote the kubeconfig of " << FormatAccountRef(*ref) << " to " << output
            << " (context \"" << response.context_name() << "\", " << expiry << ")\n";
    return kExitOk;
  }
  ctx.out << kubeconfig;
  return kExitOk;
}

// ---- kcred provision -----------------------------------------------------------------------

absl::StatusOr<std::string> ReadSpecFile(const std::string& path, CommandContext& ctx) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(ctx.in), std::istreambuf_iterator<char>());
  }
  auto data = ReadFileToString(path);
  if (!data.ok()) {
    return absl::Status(data.status().code(),
                        absl::StrCat("-f: ", data.status().message(), "; check the file name"));
  }
  return data;
}

int Provision(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "provision";
  auto format = ParseOutputFormat(args.Get("output"));
  if (!format.ok()) return UsageError(ctx, kCmd, format.status().message());
  if (args.positionals.size() > 1) {
    return UsageError(ctx, kCmd,
                      absl::StrCat("takes at most one account, got ", args.positionals.size(),
                                   " arguments; e.g. kcred provision dev/automation/ci-bot --rule "
                                   "'get,list:pods'"));
  }
  v1::ProvisionAccountRequest request;
  if (args.Has("file")) {
    for (const FlagDef& f : ProvisionSpecFlags()) {
      if (args.Has(f.name)) {
        return UsageError(ctx, kCmd,
                          absl::StrCat("-f and --", f.name,
                                       " are exclusive: describe the whole account in the file"));
      }
    }
    const std::string path = args.Get("file");
    auto text = ReadSpecFile(path, ctx);
    if (!text.ok()) return UsageError(ctx, kCmd, text.status().message());
    auto file = ParseProvisionFile(*text, path == "-" ? "stdin" : path);
    if (!file.ok()) return UsageError(ctx, kCmd, file.status().message());
    if (file->has_ref && !args.positionals.empty()) {
      return UsageError(ctx, kCmd,
                        absl::StrCat("the account is named twice (argument ", args.positionals[0],
                                     " and the file's ", FormatAccountRef(file->ref),
                                     "); drop the argument or the file's account/ref"));
    }
    if (file->has_ref) {
      *request.mutable_ref() = file->ref;
    } else {
      if (args.positionals.empty()) {
        return UsageError(
            ctx, kCmd,
            "no account: give CLUSTER/NAMESPACE/NAME as argument or account: in the file");
      }
      auto ref = ParseAccountRef(args.positionals[0]);
      if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
      *request.mutable_ref() = *ref;
    }
    *request.mutable_spec() = file->spec;
  } else {
    auto ref = OneAccount(args, kCmd);
    if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
    auto spec = BuildSpecFromFlags(args);
    if (!spec.ok()) return UsageError(ctx, kCmd, spec.status().message());
    *request.mutable_ref() = *ref;
    *request.mutable_spec() = *spec;
  }
  request.set_validate_only(args.Has("dry-run"));

  v1::ProvisionAccountResponse response;
  if (int code = CallBroker(ctx, kCmd, ClusterCall(args, ctx),
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.ProvisionAccount(&rpc, request, &response);
                            });
      code != kExitOk) {
    return code;
  }
  if (request.spec().token().has_grace() &&
      FromProtoDuration(request.spec().token().grace()) < kMinClientGrace) {
    ctx.err << "kcred " << kCmd << ": warning: a grace of "
            << FormatDurationArg(FromProtoDuration(request.spec().token().grace()))
            << " is shorter than the " << FormatDurationArg(kMinClientGrace)
            << " long-running clients (kcred watch, the kcred token exec plugin) need to move to "
               "a rotated token: they get 401 Unauthorized at rotations. Fine for clients that "
               "fetch a token per run.\n";
  }
  if (*format != OutputFormat::kText) return PrintMessage(ctx, kCmd, response, *format);
  ctx.out << ProvisionReport(response, args.Has("dry-run"), ctx.clock.Now());
  return kExitOk;
}

// ---- kcred get -----------------------------------------------------------------------------

int Get(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "get";
  auto ref = OneAccount(args, kCmd);
  if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
  auto format = ParseOutputFormat(args.Get("output"));
  if (!format.ok()) return UsageError(ctx, kCmd, format.status().message());
  v1::GetAccountRequest request;
  *request.mutable_ref() = *ref;
  v1::Account account;
  if (int code = CallBroker(ctx, kCmd,
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.GetAccount(&rpc, request, &account);
                            });
      code != kExitOk) {
    return code;
  }
  if (*format != OutputFormat::kText) return PrintMessage(ctx, kCmd, account, *format);
  ctx.out << AccountSummary(account, ctx.clock.Now());
  return kExitOk;
}

// ---- kcred list ----------------------------------------------------------------------------

int List(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "list";
  if (!args.positionals.empty()) {
    return UsageError(ctx, kCmd,
                      absl::StrCat("takes no arguments (got \"", args.positionals[0],
                                   "\"); filter with --cluster, --namespace or -l"));
  }
  auto format = ParseOutputFormat(args.Get("output"));
  if (!format.ok()) return UsageError(ctx, kCmd, format.status().message());
  int limit = 0;
  if (args.Has("limit") && (!absl::SimpleAtoi(args.Get("limit"), &limit) || limit <= 0)) {
    return UsageError(ctx, kCmd,
                      absl::StrCat("--limit \"", args.Get("limit"),
                                   "\" is not a positive number of accounts, e.g. --limit 50"));
  }
  auto stub = BrokerStub(ctx, kCmd);
  if (stub == nullptr) return kExitUsage;

  v1::ListAccountsRequest request;
  request.mutable_selector()->set_cluster(args.Get("cluster"));
  request.mutable_selector()->set_namespace_(args.Get("namespace"));
  request.mutable_selector()->set_label_selector(args.Get("selector"));
  request.set_page_size(limit);
  v1::ListAccountsResponse all;
  std::set<std::string> seen_tokens;
  bool more = false;
  for (;;) {
    v1::ListAccountsResponse page;
    if (int code = CallOn(*stub, ctx, kCmd, ctx.connection,
                          [&](v1::CredentialBroker::Stub& broker, grpc::ClientContext& rpc) {
                            return broker.ListAccounts(&rpc, request, &page);
                          });
        code != kExitOk) {
      return code;
    }
    for (auto& a : *page.mutable_accounts()) *all.add_accounts() = std::move(a);
    if (page.next_page_token().empty()) break;
    if (limit > 0) {
      more = true;
      all.set_next_page_token(page.next_page_token());
      break;
    }
    if (!seen_tokens.insert(page.next_page_token()).second) {
      return Failed(ctx, kCmd,
                    "kcredd returned the same page token twice; stopped listing (report this to "
                    "kcredd's operator, or use --limit)");
    }
    request.set_page_token(page.next_page_token());
  }
  if (*format != OutputFormat::kText) return PrintMessage(ctx, kCmd, all, *format, "accounts");
  if (all.accounts().empty()) {
    ctx.err << "No accounts found.\n";
    return kExitOk;
  }
  ctx.out << AccountsTable({all.accounts().begin(), all.accounts().end()}, ctx.clock.Now());
  if (more) {
    ctx.err << "(more accounts exist: raise --limit or omit it to list them all)\n";
  }
  return kExitOk;
}

// ---- kcred rotate --------------------------------------------------------------------------

int Rotate(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "rotate";
  auto ref = OneAccount(args, kCmd);
  if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
  v1::RotateTokenRequest request;
  *request.mutable_ref() = *ref;
  request.set_reason(args.Get("reason"));
  if (args.Has("grace")) {
    auto grace = ParseDurationArg(args.Get("grace"), "--grace");
    if (!grace.ok()) return UsageError(ctx, kCmd, grace.status().message());
    *request.mutable_grace() = ToProtoDuration(*grace);
  }
  v1::RotateTokenResponse response;
  if (int code = CallBroker(ctx, kCmd, ClusterCall(args, ctx),
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.RotateToken(&rpc, request, &response);
                            });
      code != kExitOk) {
    return code;
  }
  const absl::Time now = ctx.clock.Now();
  const v1::AccountStatus& s = response.account().status();
  ctx.out << "ROTATED " << FormatAccountRef(*ref) << ": generation "
          << response.previous_generation() << " -> " << s.generation() << "\n";
  ctx.out << "  new token:      " << (s.token_fingerprint().empty() ? "-" : s.token_fingerprint())
          << ", expires " << FormatTimestamp(s.has_expire_time(), s.expire_time(), now) << "\n";
  ctx.out << "  previous token: "
          << (response.has_previous_revoke_time()
                  ? absl::StrCat("revoked at ",
                                 FormatTimestamp(true, response.previous_revoke_time(), now))
                  : std::string("no revocation time reported"))
          << "\n";
  return kExitOk;
}

// ---- kcred delete --------------------------------------------------------------------------

int Delete(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "delete";
  auto ref = OneAccount(args, kCmd);
  if (!ref.ok()) return UsageError(ctx, kCmd, ref.status().message());
  if (!args.Has("yes")) {
    v1::GetAccountRequest request;
    *request.mutable_ref() = *ref;
    v1::Account account;
    if (int code = CallBroker(ctx, kCmd,
                              [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                                return stub.GetAccount(&rpc, request, &account);
                              });
        code != kExitOk) {
      return code;
    }
    ctx.out << "kcred delete " << FormatAccountRef(*ref)
            << " --yes would revoke its tokens and delete:\n";
    for (const auto& o : account.status().managed_objects()) {
      ctx.out << "  " << FormatObject(o) << "\n";
    }
    if (account.status().managed_objects().empty()) {
      ctx.out << "  (no Kubernetes objects: kcred created none for it)\n";
    }
    return UsageError(ctx, kCmd, "nothing deleted; add --yes to delete");
  }
  v1::DeleteAccountRequest request;
  *request.mutable_ref() = *ref;
  v1::DeleteAccountResponse response;
  if (int code = CallBroker(ctx, kCmd, ClusterCall(args, ctx),
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.DeleteAccount(&rpc, request, &response);
                            });
      code != kExitOk) {
    return code;
  }
  ctx.out << "DELETED " << FormatAccountRef(*ref) << " (its tokens are revoked)\n";
  for (const auto& o : response.deleted_objects())
    ctx.out << "  deleted " << FormatObject(o) << "\n";
  if (response.deleted_objects().empty()) {
    ctx.out << "  no Kubernetes objects were left to delete\n";
  }
  return kExitOk;
}

// ---- kcred clusters ------------------------------------------------------------------------

int Clusters(const ParsedArgs& args, CommandContext& ctx) {
  constexpr absl::string_view kCmd = "clusters";
  if (!args.positionals.empty()) {
    return UsageError(ctx, kCmd,
                      absl::StrCat("takes no arguments (got \"", args.positionals[0], "\")"));
  }
  auto format = ParseOutputFormat(args.Get("output"));
  if (!format.ok()) return UsageError(ctx, kCmd, format.status().message());
  v1::ListClustersResponse response;
  if (int code = CallBroker(ctx, kCmd,
                            [&](v1::CredentialBroker::Stub& stub, grpc::ClientContext& rpc) {
                              return stub.ListClusters(&rpc, v1::ListClustersRequest(), &response);
                            });
      code != kExitOk) {
    return code;
  }
  if (*format != OutputFormat::kText) {
    return PrintMessage(ctx, kCmd, response, *format, "clusters");
  }
  ctx.out << ClustersTable(response);
  return kExitOk;
}

const FlagDef kOutputFormatFlag{"output", 'o', true, "json|yaml",
                                "print the API object as JSON or YAML instead of text"};

}  // namespace

void AddAccountCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      "kubeconfig",
      "fetch an account's kubeconfig (stdout, a file, or merged into ~/.kube/config)",
      "kcred kubeconfig CLUSTER/NAMESPACE/NAME [-o FILE | --merge [--set-current]] [--exec]",
      "Fetches the account's current kubeconfig from kcredd: its cluster (server URL and embedded\n"
      "CA), its user (the current token) and a context with the account's namespace.\n"
      "\n"
      "By default the kubeconfig goes to stdout. -o FILE writes it to FILE with mode 0600,\n"
      "atomically (readers never see a partial file). --merge merges it into the kubeconfig\n"
      "kubectl uses: the first file of $KUBECONFIG, else ~/.kube/config. Entries with the same\n"
      "names are replaced, every other cluster, user and context is kept; a missing file is\n"
      "created with mode 0600 (and its directory with 0700), an existing file never ends up\n"
      "more open than 0600. --set-current also makes the account's context the current one.\n"
      "The kubeconfig holds a token: treat it as a secret.\n"
      "\n"
      "--exec writes no token: the kubeconfig's user runs `kcred token CLUSTER/NAMESPACE/NAME`\n"
      "(this kcred binary, by absolute path) as a kubectl exec-credential plugin, so kubectl\n"
      "always gets the current token from kcredd. The plugin reaches kcredd as this command\n"
      "did: KCRED_SERVER, KCRED_CA, KCRED_CERT and KCRED_KEY go into its environment, and\n"
      "--insecure/--timeout into its arguments. It never prompts (interactiveMode Never).\n"
      "\n"
      "Examples:\n"
      "  kcred kubeconfig dev/automation/ci-bot > ci-bot.yaml\n"
      "  kcred kubeconfig dev/automation/ci-bot -o ci-bot.kubeconfig\n"
      "  kubectl --kubeconfig ci-bot.kubeconfig get pods -n automation\n"
      "  kcred kubeconfig dev/automation/ci-bot --merge --set-current\n"
      "  kcred kubeconfig dev/automation/ci-bot --exec --merge",
      {{"output", 'o', true, "FILE", "write to FILE (mode 0600, atomic) instead of stdout"},
       {"merge", 0, false, "", "merge into $KUBECONFIG's first file or ~/.kube/config"},
       {"set-current", 0, false, "", "with --merge: switch current-context to the account"},
       {"exec", 0, false, "", "no token in the file: run `kcred token` as exec plugin"}},
      Kubeconfig});

  std::vector<FlagDef> provision_flags = {
      {"file", 'f', true, "FILE", "read the account from a YAML file (- for stdin)"},
      {"dry-run", 0, false, "", "validate and show what would change, change nothing"},
      kOutputFormatFlag,
  };
  for (const FlagDef& f : ProvisionSpecFlags()) provision_flags.push_back(f);
  commands.push_back(Command{
      "provision", "create or update an account (ServiceAccount, RBAC, token)",
      "kcred provision CLUSTER/NAMESPACE/NAME (--rule R... | --role-ref KIND/NAME | --token-only) "
      "[flags]\n  kcred provision -f FILE [CLUSTER/NAMESPACE/NAME]",
      absl::StrCat(
          "Applies an account's complete spec: kcredd creates what is missing and fixes what\n"
          "differs (same spec twice changes nothing), then issues the first token. Prints\n"
          "CREATED, UPDATED or UNCHANGED, the Kubernetes objects that changed, and the account.\n"
          "Flags omitted take kcredd's defaults; since the spec is applied as a whole, give every\n"
          "flag you want each time. kcredd works on the cluster during the call, so the deadline\n"
          "is 60s unless --timeout is given (the same holds for rotate and delete).\n"
          "\n"
          "Access is exactly one of:\n"
          "  --rule VERBS:RESOURCES[:APIGROUPS[:NAMES]]  (repeatable) kcred makes a Role, or a\n"
          "      ClusterRole with --cluster-scope; lists are comma-separated; APIGROUPS defaults\n"
          "      to the core group, and an empty item means the core group, e.g. "
          "'get:pods,deployments:,apps'.\n"
          "  --role-ref Role/NAME | ClusterRole/NAME  bind an existing role\n"
          "  --token-only  tokens for an existing ServiceAccount, no RBAC objects\n"
          "\n"
          "Examples:\n"
          "  kcred provision dev/automation/ci-bot --cluster-scope \\\n"
          "      --rule 'get,list,watch,create,update,delete:pods,services,configmaps,secrets'\n"
          "  kcred provision dev/team-a/deployer --rule 'get,list:pods' \\\n"
          "      --rule 'get,update,patch:deployments:apps' --ttl 2h --grace 5m "
          "--create-namespace\n"
          "  kcred provision dev/team-a/viewer --role-ref ClusterRole/view --label team=a\n"
          "  kcred provision dev/legacy/old-tool --token-only --mode legacy\n"
          "  kcred provision -f ci-bot.yaml --dry-run\n"
          "\n",
          kProvisionFileHelp),
      provision_flags, Provision});

  commands.push_back(Command{
      "get",
      "show one account: spec, token status, conditions, objects",
      "kcred get CLUSTER/NAMESPACE/NAME [-o json|yaml]",
      "Shows the account's spec and status: token generation and fingerprint (never the token),\n"
      "when it was issued, expires and rotates next, the last error, conditions and the\n"
      "Kubernetes objects kcred manages for it. -o json|yaml prints the API's Account object.\n"
      "\n"
      "Examples:\n"
      "  kcred get dev/automation/ci-bot\n"
      "  kcred get dev/automation/ci-bot -o yaml",
      {kOutputFormatFlag},
      Get});

  commands.push_back(Command{
      "list",
      "list accounts as a table",
      "kcred list [--cluster C] [--namespace N] [-l SELECTOR] [--limit N] [-o json|yaml]",
      "Lists the accounts you may see, ordered by cluster, namespace and name: CLUSTER\n"
      "NAMESPACE NAME SCOPE ACCESS GENERATION EXPIRES READY. Fetches every page unless --limit\n"
      "is given, which prints at most N accounts. -o json|yaml prints {accounts: [...]}.\n"
      "\n"
      "Examples:\n"
      "  kcred list\n"
      "  kcred list --cluster dev --namespace automation\n"
      "  kcred list -l team=ci,env!=prod -o json",
      {{"cluster", 0, true, "CLUSTER", "only accounts on this cluster"},
       {"namespace", 0, true, "NAMESPACE", "only accounts in this namespace"},
       {"selector", 'l', true, "SELECTOR",
        "label selector over the accounts' labels, e.g. team=ci"},
       {"limit", 0, true, "N", "print at most N accounts (one page)"},
       kOutputFormatFlag},
      List});

  commands.push_back(Command{
      "rotate",
      "rotate an account's token now",
      "kcred rotate CLUSTER/NAMESPACE/NAME [--reason TEXT] [--grace DURATION]",
      "Issues a new token and makes it current, then revokes the previous token once the grace\n"
      "period has passed (the account's grace unless --grace overrides it; --grace 0s revokes\n"
      "it at once). The reason is recorded in kcredd's audit log. Fetch the new kubeconfig\n"
      "afterwards with kcred kubeconfig.\n"
      "\n"
      "Examples:\n"
      "  kcred rotate dev/automation/ci-bot\n"
      "  kcred rotate dev/automation/ci-bot --reason 'suspected leak' --grace 0s",
      {{"reason", 0, true, "TEXT", "why, for the audit log"},
       {"grace", 0, true, "DURATION", "keep the previous token valid this long (0s: revoke now)"}},
      Rotate});

  commands.push_back(Command{
      "delete",
      "revoke an account's tokens and delete what kcred created for it",
      "kcred delete CLUSTER/NAMESPACE/NAME --yes",
      "Revokes the account's tokens and deletes exactly the Kubernetes objects kcred created for\n"
      "it (a role bound with --role-ref, or the ServiceAccount of a --token-only account, was\n"
      "not created by kcred and stays), then forgets the account. Retrying after a partial\n"
      "failure is safe.\n"
      "\n"
      "Without --yes nothing is deleted: kcred prints what would be deleted and exits with 2.\n"
      "There is no interactive prompt, so scripts pass --yes.\n"
      "\n"
      "Examples:\n"
      "  kcred delete dev/automation/ci-bot          # shows what would go\n"
      "  kcred delete dev/automation/ci-bot --yes",
      {{"yes", 'y', false, "", "really delete"}},
      Delete});

  commands.push_back(Command{
      "clusters",
      "list the clusters kcredd serves, with reachability and version",
      "kcred clusters [-o json|yaml]",
      "Lists kcredd's configured clusters: NAME (what you type in CLUSTER/NAMESPACE/NAME),\n"
      "SERVER, REACHABLE and VERSION from kcredd's last check, ACCOUNTS it manages there, and\n"
      "the last check's ERROR.\n"
      "\n"
      "Examples:\n"
      "  kcred clusters\n"
      "  kcred clusters -o yaml",
      {kOutputFormatFlag},
      Clusters});
}

}  // namespace kcred::client
