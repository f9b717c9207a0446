#include "daemon/server/tls_material.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/openssl.h"

namespace kcred::server {
namespace {

// A prefix naming the setting and the file, so that every message says what to fix.
std::string Where(absl::string_view key, const std::string& path) {
  return absl::StrCat("listen.tcp.tls.", key, " ", path);
}

// The reason of OpenSSL's last error ("bad base64 decode"), never the data it choked on.
std::string OpenSslReason() {
  unsigned long err = ERR_peek_last_error();
  const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown error";
}

// True when OpenSSL's last error is the PEM reader running out of blocks, i.e. a clean end.
bool OnlyEndOfPem() {
  unsigned long err = ERR_peek_last_error();
  return err == 0 ||
         (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem,
                                                       absl::string_view key,
                                                       const std::string& path) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  if (!OnlyEndOfPem()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(key, path), ": a PEM certificate block cannot be parsed (",
                     OpenSslReason(), "); replace the file with a valid PEM certificate file"));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(key, path), ": no PEM certificate found (expected \"-----BEGIN CERTIFICATE-----\")"));
  }
  return certs;
}

// Refuses to prompt for a passphrase: kcredd runs unattended.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<EvpPkeyPtr> ParsePrivateKey(const std::string& pem, const std::string& path) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key != nullptr) {
    ERR_clear_error();
    return key;
  }
  if (OnlyEndOfPem() || pem.find("-----BEGIN") == std::string::npos) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(Where("key_file", path),
                                                   ": no PEM private key found (expected a \"BEGIN "
                                                   "PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or "
                                                   "\"BEGIN EC PRIVATE KEY\" block)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Where("key_file", path), ": the private key cannot be parsed (", OpenSslReason(),
                   "); it must be an unencrypted PEM key"));
}

std::string SubjectLine(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  return MemoryBioContents(bio.get());
}

absl::Time NotAfter(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return absl::InfiniteFuture();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

std::string CertificateFingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return absl::StrCat("sha256:",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len)));
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const config::TlsConfig& tls) {
  TlsMaterial material;
  auto cert = ReadFileToString(tls.cert_file);
  if (!cert.ok()) return cert.status();
  auto chain = ParseCertificates(*cert, "cert_file", tls.cert_file);
  if (!chain.ok()) return chain.status();

  absl::StatusOr<SecretString> key_secret = ReadSecretFile(tls.key_file);
  if (!key_secret.ok()) return key_secret.status();
  auto key = ParsePrivateKey(key_secret->Reveal(), tls.key_file);
  if (!key.ok()) return key.status();
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(Where("key_file", tls.key_file),
                     ": the private key does not match the certificate in ", tls.cert_file,
                     " (the first certificate in that file must be the one issued for this key)"));
  }

  if (!tls.client_ca_file.empty()) {
    auto ca = ReadFileToString(tls.client_ca_file);
    if (!ca.ok()) return ca.status();
    auto cas = ParseCertificates(*ca, "client_ca_file", tls.client_ca_file);
    if (!cas.ok()) return cas.status();
    material.client_ca_pem = std::move(*ca);
  }

  material.cert_chain_pem = std::move(*cert);
  material.key_pem = std::move(*key_secret);
  material.fingerprint = CertificateFingerprint(leaf);
  material.subject = SubjectLine(leaf);
  material.not_after = NotAfter(leaf);
  return material;
}

absl::StatusOr<std::unique_ptr<TlsWorkDir>> TlsWorkDir::Create(const std::string& dir) {
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/kcredd-tls-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return Errno("cannot create a private directory for the TLS files like", tmpl);
    }
    return std::unique_ptr<TlsWorkDir>(new TlsWorkDir(tmpl, /*temporary=*/true));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the TLS work directory ", dir, ": ", ec.message()));
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return Errno("cannot inspect the TLS work directory", dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the TLS work directory ", dir,
                     " must be a directory (not a symlink) owned by the user kcredd runs as; "
                     "remove it or choose another"));
  }
  if (chmod(dir.c_str(), 0700) != 0) return Errno("cannot make private (0700)", dir);
  std::unique_ptr<TlsWorkDir> self(new TlsWorkDir(dir, /*temporary=*/false));
  self->RemoveCopies();
  return self;
}

TlsWorkDir::~TlsWorkDir() {
  std::error_code ec;
  if (temporary_) {
    std::filesystem::remove_all(path_, ec);
  } else {
    RemoveCopies();
  }
}

std::string TlsWorkDir::Generation(int n) const { return absl::StrCat(path_, "/material-", n); }

void TlsWorkDir::RemoveCopies() {
  std::error_code ec;
  std::filesystem::remove(path_ + "/current", ec);
  std::filesystem::remove(path_ + "/current.tmp", ec);
  for (std::filesystem::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind("material-", 0) == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(it->path(), ignored);
    }
  }
}

absl::Status TlsWorkDir::Write(const TlsMaterial& material) {
  const int n = generation_ + 1;
  const std::string dir = Generation(n);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (mkdir(dir.c_str(), 0700) != 0) return Errno("cannot create", dir);
  time_t newest = last_mtime_;
  auto write = [&](const std::string& name, const std::string& data) -> absl::Status {
    const std::string path = absl::StrCat(dir, "/", name);
    if (auto s = WriteFileAtomic(path, data, 0600); !s.ok()) return s;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return Errno("cannot inspect", path);
    time_t mtime = st.st_mtime;
    if (mtime <= last_mtime_) {
      mtime = last_mtime_ + 1;
      timespec times[2] = {{0, UTIME_OMIT}, {mtime, 0}};
      if (utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
        return Errno("cannot set the modification time of", path);
      }
    }
    newest = std::max(newest, mtime);
    return absl::OkStatus();
  };
  absl::Status status = write("tls.crt", material.cert_chain_pem);
  if (status.ok()) status = write("tls.key", material.key_pem.Reveal());
  if (status.ok() && !material.client_ca_pem.empty()) {
    status = write("client-ca.crt", material.client_ca_pem);
  }
  const std::string link = path_ + "/current.tmp";
  if (status.ok()) {
    unlink(link.c_str());
    if (symlink(absl::StrCat("material-", n).c_str(), link.c_str()) != 0 ||
        rename(link.c_str(), (path_ + "/current").c_str()) != 0) {
      status = Errno("cannot switch the TLS copies to", dir);
    }
  }
  if (!status.ok()) {
    unlink(link.c_str());
    std::filesystem::remove_all(dir, ec);
    return status;
  }
  generation_ = n;
  last_mtime_ = newest;
  if (n > 2) std::filesystem::remove_all(Generation(n - 2), ec);
  return absl::OkStatus();
}

}  // namespace kcred::server
