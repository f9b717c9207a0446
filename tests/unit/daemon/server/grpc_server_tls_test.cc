// GrpcServer's TCP TLS listener over real sockets: mTLS identifies clients by certificate, and
// ReloadTls swaps certificate, key and client CA for new handshakes while open connections and
// streams keep working, refusing broken files with the previous material still served.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/pki.h"
#include "daemon/server/grpc_server.h"
#include "gmock/gmock.h"
#include "proto/kcred/v1/broker.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_pki.h"

namespace kcred::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Answers GetServerInfo with the caller's identity and streams one WatchAccounts event per Emit().
class TestBroker final : public kcred::v1::CredentialBroker::Service {
 public:
  explicit TestBroker(const PeerRegistry& peers) : peers_(peers) {}

  grpc::Status GetServerInfo(grpc::ServerContext* context, const v1::GetServerInfoRequest*,
                             v1::GetServerInfoResponse* response) override {
    response->set_caller_identity(IdentifyCaller(*context, peers_).Display());
    return grpc::Status::OK;
  }

  grpc::Status WatchAccounts(grpc::ServerContext* context, const v1::WatchAccountsRequest*,
                             grpc::ServerWriter<v1::AccountEvent>* writer) override {
    int sent = 0;
    while (!context->IsCancelled()) {
      int wanted = 0;
      {
        absl::MutexLock lock(&mu_);
        // Bounded so that a cancelled stream is noticed; events are driven by Emit().
        auto more = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wanted_ > sent; };
        mu_.AwaitWithTimeout(absl::Condition(&more), absl::Milliseconds(100));
        wanted = wanted_;
      }
      for (; sent < wanted; ++sent) {
        v1::AccountEvent event;
        event.set_message(absl::StrCat("event ", sent + 1));
        if (!writer->Write(event)) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  void Emit() {
    absl::MutexLock lock(&mu_);
    ++wanted_;
  }

 private:
  const PeerRegistry& peers_;
  absl::Mutex mu_;
  int wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

class GrpcServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca1 = testing::TestCa("server CA 1");
    auto ca2 = testing::TestCa("server CA 2");
    auto client_ca = testing::TestCa("client CA");
    auto stranger_ca = testing::TestCa("stranger CA");
    ASSERT_TRUE(ca1.ok() && ca2.ok() && client_ca.ok() && stranger_ca.ok());
    ca1_ = *ca1;
    ca2_ = *ca2;
    client_ca_ = *client_ca;
    auto server1 = testing::TestServerCert(ca1_);
    auto server1b = testing::TestServerCert(ca1_);
    auto server2 = testing::TestServerCert(ca2_);
    const testing::TestClient client{"client", "ci-runner", {}, {}};
    auto client_cert = testing::TestClientCert(client_ca_, client);
    auto stranger = testing::TestClientCert(*stranger_ca, client);
    ASSERT_TRUE(server1.ok() && server1b.ok() && server2.ok() && client_cert.ok() && stranger.ok());
    server1_ = *server1;
    server1b_ = *server1b;
    server2_ = *server2;
    client_ = *client_cert;
    stranger_ = *stranger;
    Write("tls.crt", server1_.cert_pem);
    Write("tls.key", server1_.key_pem);
    Write("client-ca.crt", client_ca_.cert_pem);
  }

  void Write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(kcred::testing::WriteFile(dir_.File(name), data, 0600).ok());
  }

  config::TlsConfig Tls(const std::string& cert = "tls.crt", const std::string& key = "tls.key",
                        const std::string& ca = "client-ca.crt") {
    config::TlsConfig tls;
    tls.cert_file = dir_.File(cert);
    tls.key_file = dir_.File(key);
    tls.client_ca_file = ca.empty() ? "" : dir_.File(ca);
    return tls;
  }

  void StartServer(const config::TlsConfig& tls, const std::string& work_dir = "") {
    ServerOptions options;
    options.listen.tcp = config::TcpListenerConfig{"127.0.0.1:0", tls};
    options.tls_work_dir = work_dir;
    auto server = GrpcServer::Start(options, {&broker_}, &peers_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // A channel on a connection of its own (no subchannel sharing), trusting only `ca`.
  std::shared_ptr<grpc::Channel> Channel(const KeyAndCert& ca, const KeyAndCert* client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca.cert_pem;
    if (client != nullptr) {
      ssl.pem_private_key = client->key_pem;
      ssl.pem_cert_chain = client->cert_pem;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->tcp_port()),
                                     grpc::SslCredentials(ssl), args);
  }

  struct Answer {
    grpc::Status status;
    std::string identity;
    std::string server_cert_pem;  // the certificate the server presented on this connection
  };
  static Answer Call(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = kcred::v1::CredentialBroker::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetServerInfoResponse response;
    Answer answer;
    answer.status = stub->GetServerInfo(&ctx, v1::GetServerInfoRequest(), &response);
    answer.identity = response.caller_identity();
    if (auto auth = ctx.auth_context(); auth != nullptr) {
      for (const auto& pem : auth->FindPropertyValues("x509_pem_cert")) {
        answer.server_cert_pem.assign(pem.data(), pem.size());
      }
    }
    return answer;
  }

  // Fresh connections until one handshakes with a server certificate `ca` trusts: the watcher
  // applies reloaded files within about a second, so this allows a generous margin.
  Answer CallUntilTrusted(const KeyAndCert& ca, const KeyAndCert* client) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    Answer answer;
    do {
      answer = Call(Channel(ca, client));
    } while (!answer.status.ok() && absl::Now() < deadline);
    return answer;
  }

  kcred::testing::TempDir dir_;
  KeyAndCert ca1_, ca2_, client_ca_, server1_, server1b_, server2_, client_, stranger_;
  PeerRegistry peers_;
  TestBroker broker_{peers_};
  std::unique_ptr<GrpcServer> server_;
};

// With mTLS a client is identified by its certificate's CN; no certificate, one of another CA, or
// a server certificate the client does not trust fail.
TEST_F(GrpcServerTlsTest, MutualTlsIdentifiesClientsAndRejectsOthers) {
  StartServer(Tls());
  Answer ok = Call(Channel(ca1_, &client_));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.identity, "x509:cn:ci-runner");
  EXPECT_EQ(ok.server_cert_pem, server1_.cert_pem);

  EXPECT_FALSE(Call(Channel(ca1_, nullptr)).status.ok()) << "a client without a certificate";
  EXPECT_FALSE(Call(Channel(ca1_, &stranger_)).status.ok()) << "a client of another CA";
  EXPECT_FALSE(Call(Channel(ca2_, &client_)).status.ok()) << "a server cert the client distrusts";
}

// With client certificates optional, a caller without one is anonymous, one with ours is named by
// it, and one of another CA is still refused; reloading the same settings works.
TEST_F(GrpcServerTlsTest, OptionalClientCertificatesAreStillVerified) {
  config::TlsConfig tls = Tls();
  tls.require_client_cert = false;
  StartServer(tls);
  Answer anonymous = Call(Channel(ca1_, nullptr));
  ASSERT_TRUE(anonymous.status.ok()) << anonymous.status.error_message();
  EXPECT_EQ(anonymous.identity, "anonymous");
  Answer known = Call(Channel(ca1_, &client_));
  ASSERT_TRUE(known.status.ok()) << known.status.error_message();
  EXPECT_EQ(known.identity, "x509:cn:ci-runner");
  EXPECT_FALSE(Call(Channel(ca1_, &stranger_)).status.ok()) << "a certificate of another CA";
  EXPECT_TRUE(server_->ReloadTls(tls).ok());
}

// A reload to another CA's certificate and a new client CA applies to new connections only; a
// connection opened before keeps its certificate, identity, calls and stream.
TEST_F(GrpcServerTlsTest, ReloadServesNewCertificateToNewConnectionsAndKeepsOpenOnes) {
  StartServer(Tls());
  const std::string old_fingerprint = server_->tls_certificate_fingerprint();
  EXPECT_THAT(old_fingerprint, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));

  auto open_channel = Channel(ca1_, &client_);
  ASSERT_TRUE(Call(open_channel).status.ok());
  auto stub = kcred::v1::CredentialBroker::NewStub(open_channel);
  grpc::ClientContext watch_ctx;
  auto stream = stub->WatchAccounts(&watch_ctx, v1::WatchAccountsRequest());
  v1::AccountEvent event;
  broker_.Emit();
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.message(), "event 1");

  // The operator points the config at new files from another CA, with a new client CA too.
  auto new_client_ca = testing::TestCa("client CA 2");
  ASSERT_TRUE(new_client_ca.ok());
  auto new_client = testing::TestClientCert(*new_client_ca, {"client", "deployer", {}, {}});
  ASSERT_TRUE(new_client.ok());
  Write("new.crt", server2_.cert_pem);
  Write("new.key", server2_.key_pem);
  Write("new-client-ca.crt", new_client_ca->cert_pem);
  ASSERT_TRUE(server_->ReloadTls(Tls("new.crt", "new.key", "new-client-ca.crt")).ok());
  EXPECT_NE(server_->tls_certificate_fingerprint(), old_fingerprint);

  Answer fresh = CallUntilTrusted(ca2_, &*new_client);
  ASSERT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  EXPECT_EQ(fresh.server_cert_pem, server2_.cert_pem);
  EXPECT_EQ(fresh.identity, "x509:cn:deployer");
  EXPECT_FALSE(Call(Channel(ca1_, &client_)).status.ok()) << "new connections use the new cert";
  EXPECT_FALSE(Call(Channel(ca2_, &client_)).status.ok()) << "the old client CA is gone";

  // The connection opened before the reload still carries calls and its stream.
  Answer old = Call(open_channel);
  ASSERT_TRUE(old.status.ok()) << old.status.error_message();
  EXPECT_EQ(old.server_cert_pem, server1_.cert_pem) << "the same connection as before";
  EXPECT_EQ(old.identity, "x509:cn:ci-runner");
  broker_.Emit();
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.message(), "event 2");
  watch_ctx.TryCancel();
  while (stream->Read(&event)) {
  }
  stream->Finish();
}

// Certificate and key files rewritten in place are served to new connections after a reload.
TEST_F(GrpcServerTlsTest, ReloadOfFilesReplacedInPlace) {
  StartServer(Tls());
  Write("tls.crt", server1b_.cert_pem);
  Write("tls.key", server1b_.key_pem);
  ASSERT_TRUE(server_->ReloadTls(Tls()).ok());
  // Same CA, so old and new both handshake; wait for a connection that shows the new one.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  Answer answer;
  do {
    answer = Call(Channel(ca1_, &client_));
  } while (answer.server_cert_pem != server1b_.cert_pem && absl::Now() < deadline);
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  EXPECT_EQ(answer.server_cert_pem, server1b_.cert_pem);
}

// Broken, mismatched or missing files are refused naming the key and file, never quoting the key,
// and the old certificate keeps serving; a good reload afterwards works.
TEST_F(GrpcServerTlsTest, BrokenFilesAreRefusedAndTheOldCertificateKeepsServing) {
  StartServer(Tls());
  const std::string fingerprint = server_->tls_certificate_fingerprint();
  Write("garbage", "this is not PEM\n");
  Write("other.key", server2_.key_pem);
  Write("bad-block.crt",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA!!\n-----END CERTIFICATE-----\n");
  struct Case {
    config::TlsConfig tls;
    std::string expected;
  };
  // A line of the private keys' base64 body, which no message may quote.
  const std::string key_body = server2_.key_pem.substr(server2_.key_pem.find('\n') + 1, 40);
  const Case cases[] = {
      {Tls("tls.crt", "garbage"),
       absl::StrCat("listen.tcp.tls.key_file ", dir_.File("garbage"), ": no PEM private key")},
      {Tls("tls.crt", "other.key"),
       absl::StrCat("listen.tcp.tls.key_file ", dir_.File("other.key"),
                    ": the private key does not match the certificate in ", dir_.File("tls.crt"))},
      {Tls("tls.crt", "tls.key", "garbage"),
       absl::StrCat("listen.tcp.tls.client_ca_file ", dir_.File("garbage"),
                    ": no PEM certificate found")},
      {Tls("garbage", "tls.key"), absl::StrCat("listen.tcp.tls.cert_file ", dir_.File("garbage"),
                                               ": no PEM certificate found")},
      {Tls("bad-block.crt", "tls.key"),
       absl::StrCat("listen.tcp.tls.cert_file ", dir_.File("bad-block.crt"),
                    ": a PEM certificate block cannot be parsed")},
      {Tls("missing.crt", "tls.key"), dir_.File("missing.crt")},
  };
  for (const Case& c : cases) {
    absl::Status status = server_->ReloadTls(c.tls);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    const std::string message(status.message());
    EXPECT_THAT(message, HasSubstr(c.expected));
    EXPECT_THAT(message, HasSubstr("still serving certificate " + fingerprint));
    EXPECT_THAT(message, Not(HasSubstr(key_body))) << "key material in an error";
    EXPECT_EQ(server_->tls_certificate_fingerprint(), fingerprint);
  }
  Answer answer = Call(Channel(ca1_, &client_));
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  EXPECT_EQ(answer.server_cert_pem, server1_.cert_pem);

  // A good reload after refused ones still works.
  Write("new.crt", server2_.cert_pem);
  ASSERT_TRUE(server_->ReloadTls(Tls("new.crt", "other.key")).ok());
  Answer fresh = CallUntilTrusted(ca2_, &client_);
  ASSERT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  EXPECT_EQ(fresh.server_cert_pem, server2_.cert_pem);
}

// Dropping the client CA or making client certificates optional is refused as needing a restart,
// and client certificates stay required.
TEST_F(GrpcServerTlsTest, ChangingClientAuthenticationNeedsARestart) {
  StartServer(Tls());
  absl::Status no_ca = server_->ReloadTls(Tls("tls.crt", "tls.key", ""));
  EXPECT_EQ(no_ca.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_ca.message(), HasSubstr("needs a restart"));
  config::TlsConfig optional = Tls();
  optional.require_client_cert = false;
  absl::Status relaxed = server_->ReloadTls(optional);
  EXPECT_EQ(relaxed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(relaxed.message(), HasSubstr("needs a restart"));
  EXPECT_FALSE(Call(Channel(ca1_, nullptr)).status.ok()) << "client certificates still required";
}

// TLS without a client CA serves anonymous callers and reloads its certificate, but adding a client
// CA needs a restart.
TEST_F(GrpcServerTlsTest, ServerOnlyTlsReloadsToo) {
  StartServer(Tls("tls.crt", "tls.key", ""));
  Answer anonymous = Call(Channel(ca1_, nullptr));
  ASSERT_TRUE(anonymous.status.ok()) << anonymous.status.error_message();
  EXPECT_EQ(anonymous.identity, "anonymous");
  Write("new.crt", server2_.cert_pem);
  Write("new.key", server2_.key_pem);
  ASSERT_TRUE(server_->ReloadTls(Tls("new.crt", "new.key", "")).ok());
  Answer fresh = CallUntilTrusted(ca2_, nullptr);
  ASSERT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  EXPECT_EQ(fresh.server_cert_pem, server2_.cert_pem);
  EXPECT_EQ(server_->ReloadTls(Tls()).code(), absl::StatusCode::kFailedPrecondition)
      << "adding a client CA needs a restart";
}

// Start refuses a key that does not match the certificate, naming the key file.
TEST_F(GrpcServerTlsTest, StartRefusesAMismatchedKeyNamingTheFile) {
  Write("other.key", server2_.key_pem);
  ServerOptions options;
  options.listen.tcp = config::TcpListenerConfig{"127.0.0.1:0", Tls("tls.crt", "other.key")};
  auto server = GrpcServer::Start(options, {&broker_}, &peers_);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(),
              HasSubstr(absl::StrCat(dir_.File("other.key"), ": the private key does not match")));
}

// The server's copies of the TLS files are 0600 in a 0700 directory, follow a reload, and go with
// the server, which leaves the work directory it was given.
TEST_F(GrpcServerTlsTest, CopiesArePrivateAndRemovedWithTheServer) {
  const std::string work = dir_.File("work/tls");
  StartServer(Tls(), work);
  struct stat st {};
  ASSERT_EQ(stat(work.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* name : {"tls.crt", "tls.key", "client-ca.crt"}) {
    ASSERT_EQ(stat((work + "/current/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  auto key = kcred::testing::ReadFile(work + "/current/tls.key");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, server1_.key_pem);

  Write("new.crt", server2_.cert_pem);
  Write("new.key", server2_.key_pem);
  ASSERT_TRUE(server_->ReloadTls(Tls("new.crt", "new.key")).ok());
  key = kcred::testing::ReadFile(work + "/current/tls.key");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, server2_.key_pem);

  server_->Shutdown(absl::Seconds(1));
  server_.reset();
  EXPECT_NE(access((work + "/current").c_str(), F_OK), 0) << "copies left behind";
  EXPECT_NE(access((work + "/material-1").c_str(), F_OK), 0);
  EXPECT_NE(access((work + "/material-2").c_str(), F_OK), 0);
  EXPECT_EQ(access(work.c_str(), F_OK), 0) << "a given work directory stays";
}

// ReloadTls without a TLS listener is FAILED_PRECONDITION, and there is no certificate fingerprint.
TEST_F(GrpcServerTlsTest, ReloadWithoutTlsListenerIsAPreconditionError) {
  ServerOptions options;
  options.listen.unix_socket = config::UnixListenerConfig{};
  options.listen.unix_socket->path = dir_.File("kcredd.sock");
  auto server = GrpcServer::Start(options, {&broker_}, &peers_);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Status status = (*server)->ReloadTls(Tls());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("no TLS listener"));
  EXPECT_EQ((*server)->tls_certificate_fingerprint(), "");
}

}  // namespace
}  // namespace kcred::server
