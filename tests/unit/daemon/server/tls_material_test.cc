// LoadTlsMaterial's checks of the operator's files and TlsWorkDir's generations of private copies.
#include "daemon/server/tls_material.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/pki.h"
#include "tests/support/process.h"
#include "tests/support/test_pki.h"

namespace kcred::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class TlsMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = kcred::testing::TestCa("test CA");
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
    auto a = kcred::testing::TestServerCert(ca_);
    auto b = kcred::testing::TestServerCert(ca_);
    ASSERT_TRUE(a.ok() && b.ok());
    a_ = *a;
    b_ = *b;
  }

  std::string Write(const std::string& name, const std::string& data) {
    EXPECT_TRUE(kcred::testing::WriteFile(dir_.File(name), data, 0600).ok());
    return dir_.File(name);
  }

  config::TlsConfig Tls(const KeyAndCert& identity) {
    config::TlsConfig tls;
    tls.cert_file = Write("tls.crt", identity.cert_pem + ca_.cert_pem);  // leaf, then the CA
    tls.key_file = Write("tls.key", identity.key_pem);
    tls.client_ca_file = Write("ca.crt", ca_.cert_pem);
    return tls;
  }

  static time_t Mtime(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? st.st_mtime : 0;
  }

  kcred::testing::TempDir dir_;
  KeyAndCert ca_, a_, b_;
};

// The chain, key and client CA are loaded as written, with the leaf's fingerprint, subject and
// expiry; without a client CA file there is none.
TEST_F(TlsMaterialTest, LoadsAChainItsKeyAndTheClientCa) {
  auto material = LoadTlsMaterial(Tls(a_));
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_EQ(material->cert_chain_pem, a_.cert_pem + ca_.cert_pem);
  EXPECT_EQ(material->key_pem.Reveal(), a_.key_pem);
  EXPECT_EQ(material->client_ca_pem, ca_.cert_pem);
  EXPECT_THAT(material->fingerprint, MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(material->subject, "CN=kcredd");
  EXPECT_GT(material->not_after, absl::Now());

  auto other = LoadTlsMaterial(Tls(b_));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->fingerprint, material->fingerprint) << "the fingerprint is the leaf's";

  config::TlsConfig server_only = Tls(a_);
  server_only.client_ca_file.clear();
  auto no_ca = LoadTlsMaterial(server_only);
  ASSERT_TRUE(no_ca.ok());
  EXPECT_EQ(no_ca->client_ca_pem, "");
}

// An encrypted private key is refused, naming the key file and asking for an unencrypted PEM key.
TEST_F(TlsMaterialTest, RefusesAnEncryptedKeyWithoutPrompting) {
  config::TlsConfig tls = Tls(a_);
  BIO* in = BIO_new_mem_buf(a_.key_pem.data(), static_cast<int>(a_.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  ASSERT_NE(key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char passphrase[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), passphrase,
                                          sizeof passphrase - 1, nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  Write("tls.key", std::string(data, static_cast<size_t>(len)));
  BIO_free(out);
  EVP_PKEY_free(key);
  BIO_free(in);

  auto material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(material.status().message(),
              HasSubstr(absl::StrCat("listen.tcp.tls.key_file ", tls.key_file)));
  EXPECT_THAT(material.status().message(), HasSubstr("unencrypted PEM key"));
}

// A chain whose first certificate is not the key's is refused, even with the right one further on.
TEST_F(TlsMaterialTest, KeyMustMatchTheFirstCertificate) {
  config::TlsConfig tls = Tls(a_);
  // The right certificate, but not first in the file.
  Write("tls.crt", ca_.cert_pem + a_.cert_pem);
  auto material = LoadTlsMaterial(tls);
  ASSERT_FALSE(material.ok());
  EXPECT_THAT(material.status().message(), HasSubstr("does not match the certificate in"));
}

// Taking over a work directory makes it 0700 and clears an earlier run's; each Write adds a 0600
// generation behind `current` with newer mtimes, keeping just the previous one; reset removes all.
TEST_F(TlsMaterialTest, WorkDirWritesGenerationsBehindOneSymlink) {
  const std::string path = dir_.File("work");
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  // Left by an earlier run: cleared when the directory is taken over.
  ASSERT_EQ(mkdir((path + "/material-7").c_str(), 0700), 0);
  ASSERT_EQ(symlink("material-7", (path + "/current").c_str()), 0);
  auto dir = TlsWorkDir::Create(path);
  ASSERT_TRUE(dir.ok()) << dir.status();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_NE(access((path + "/material-7").c_str(), F_OK), 0);

  auto a = LoadTlsMaterial(Tls(a_));
  auto b = LoadTlsMaterial(Tls(b_));
  ASSERT_TRUE(a.ok() && b.ok());
  // Three generations within (most likely) one second.
  ASSERT_TRUE((*dir)->Write(*a).ok());
  const time_t first = Mtime((*dir)->key_path());
  ASSERT_TRUE((*dir)->Write(*b).ok());
  const time_t second = Mtime((*dir)->key_path());
  EXPECT_GT(second, first) << "the watcher must see each generation's files change";
  EXPECT_GT(Mtime((*dir)->cert_path()), Mtime(path + "/material-1/tls.crt"));
  ASSERT_TRUE((*dir)->Write(*a).ok());
  EXPECT_GT(Mtime((*dir)->key_path()), second);

  char target[PATH_MAX] = {};
  ASSERT_GT(readlink((path + "/current").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "material-3");
  EXPECT_NE(access((path + "/material-1").c_str(), F_OK), 0) << "two generations back: removed";
  EXPECT_EQ(access((path + "/material-2").c_str(), F_OK), 0) << "the previous one stays";
  auto key = kcred::testing::ReadFile((*dir)->key_path());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, a_.key_pem);
  ASSERT_EQ(stat((*dir)->key_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  dir->reset();
  EXPECT_NE(access((path + "/current").c_str(), F_OK), 0);
  EXPECT_NE(access((path + "/material-3").c_str(), F_OK), 0);
}

// A temporary work directory is 0700 and removed, with what was written in it, on reset.
TEST_F(TlsMaterialTest, TemporaryWorkDirIsRemoved) {
  auto dir = TlsWorkDir::Create("");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = (*dir)->path();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto a = LoadTlsMaterial(Tls(a_));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*dir)->Write(*a).ok());
  dir->reset();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

// A work directory that is a symlink is refused as FAILED_PRECONDITION naming the path.
TEST_F(TlsMaterialTest, WorkDirMustNotBeASymlink) {
  ASSERT_EQ(mkdir(dir_.File("real").c_str(), 0700), 0);
  ASSERT_EQ(symlink(dir_.File("real").c_str(), dir_.File("link").c_str()), 0);
  auto dir = TlsWorkDir::Create(dir_.File("link"));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(), HasSubstr(dir_.File("link")));
}

}  // namespace
}  // namespace kcred::server
