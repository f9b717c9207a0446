#include "daemon/store/sealing_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"

namespace kcred::store {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr size_t kHexKeySize = 2 * kSealingKeySize;
// Longer than any valid key file; stops a wrong path (a log, a device) from being read whole.
constexpr size_t kMaxKeyFileSize = 4096;

std::string HowToCreate(absl::string_view path) {
  return absl::StrCat("create one with `(umask 077; openssl rand -hex 32 > ", path, ")`");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a key file through one descriptor, checking its type and mode on that descriptor.
absl::StatusOr<SecretString> ReadKeyFile(const std::string& path, absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat(what, " ", path, " does not exist; ", HowToCreate(path)));
    }
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat(what, " ", path, " is not readable by uid ", ::getuid(), ": ",
                       std::strerror(err), "; make the kcredd user its owner (mode 0600)"));
    }
    return absl::InternalError(
        absl::StrCat(what, " ", path, ": cannot open it: ", std::strerror(err)));
  }
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(
        absl::StrCat(what, " ", path, ": stat failed: ", std::strerror(err)));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not a regular file; point kcredd at the key file"));
  }
  if ((info.st_mode & 077) != 0) {
    ::close(fd);
    return absl::PermissionDeniedError(
        absl::StrFormat("%s %s is accessible by group or others (mode %04o); run `chmod 600 %s`",
                        what, path, info.st_mode & 07777, path));
  }
  std::string buffer(kMaxKeyFileSize + 1, '\0');
  size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      OPENSSL_cleanse(buffer.data(), buffer.size());
      return absl::InternalError(
          absl::StrCat(what, " ", path, ": read failed: ", std::strerror(err)));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  // Shrinking keeps the bytes in the same allocation, which SecretString wipes on destruction.
  buffer.resize(size);
  return SecretString(std::move(buffer));
}

// Parses key file contents (format in the header). Errors name `what` and `path` and never echo
// the contents.
absl::StatusOr<SealingKey> ParseSealingKey(const SecretString& contents, absl::string_view what,
                                           absl::string_view path) {
  const std::string source = absl::StrCat(what, " ", path);
  absl::string_view text = contents.Reveal();
  // One trailing newline (with an optional carriage return) is what editors and `echo` add.
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.size() != kHexKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected ", kHexKeySize, " hex digits (a ", kSealingKeySize,
                     "-byte AES-256 key) and an optional newline, found ", contents.Reveal().size(),
                     " bytes; ", HowToCreate(path)));
  }
  std::string material(kSealingKeySize, '\0');
  for (size_t i = 0; i < kSealingKeySize; ++i) {
    const int high = HexValue(text[2 * i]);
    const int low = HexValue(text[2 * i + 1]);
    if (high < 0 || low < 0) {
      OPENSSL_cleanse(material.data(), material.size());
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": byte ", high < 0 ? 2 * i : 2 * i + 1,
                       " is not a hex digit; the file must hold exactly ", kHexKeySize,
                       " hex digits; ", HowToCreate(path)));
    }
    material[i] = static_cast<char>(high << 4 | low);
  }
  return MakeSealingKey(SecretString(std::move(material)));
}

}  // namespace

std::string SealingKeyId(absl::string_view material) {
  static constexpr absl::string_view kDomain = "kcred sealing key id v1:";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kDomain.data(), kDomain.size()) == 1 &&
                  EVP_DigestUpdate(ctx, material.data(), material.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &digest_size) == 1 && digest_size >= 8;
  EVP_MD_CTX_free(ctx);
  // SHA-256 does not fail short of memory exhaustion; an empty id then matches no blob.
  if (!ok) return std::string();
  std::string id;
  for (int i = 0; i < 8; ++i) {
    id.push_back(kHexDigits[digest[i] >> 4]);
    id.push_back(kHexDigits[digest[i] & 0xf]);
  }
  return id;
}

absl::StatusOr<SealingKey> MakeSealingKey(SecretString material) {
  if (material.Reveal().size() != kSealingKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("sealing key is ", material.Reveal().size(),
                                                   " bytes; AES-256 needs exactly ",
                                                   kSealingKeySize));
  }
  SealingKey key;
  key.id = SealingKeyId(material.Reveal());
  key.material = std::move(material);
  return key;
}

absl::StatusOr<SealingKey> LoadSealingKeyFile(const std::string& path) {
  absl::StatusOr<SecretString> contents = ReadKeyFile(path, "sealing key file");
  if (!contents.ok()) return contents.status();
  return ParseSealingKey(*contents, "sealing key file", path);
}

absl::StatusOr<SealingKey> LoadSealingKeyCredential(const std::string& name,
                                                    const std::string& credentials_directory) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat(
        "sealing key credential name \"", name,
        "\" is not a plain file name; use the name given in LoadCredential=NAME:PATH"));
  }
  if (credentials_directory.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sealing key credential \"", name,
                     "\": $CREDENTIALS_DIRECTORY is not set; run kcredd under systemd with "
                     "`LoadCredential=",
                     name, ":/etc/kcred/sealing.key` in its unit, or configure a key file"));
  }
  const std::string path = absl::StrCat(credentials_directory, "/", name);
  absl::StatusOr<SecretString> contents = ReadKeyFile(path, "sealing key credential file");
  if (!contents.ok()) {
    if (absl::IsNotFound(contents.status())) {
      return absl::NotFoundError(
          absl::StrCat("sealing key credential \"", name, "\" is not in $CREDENTIALS_DIRECTORY (",
                       credentials_directory, "); add `LoadCredential=", name,
                       ":/etc/kcred/sealing.key` to kcredd's unit"));
    }
    return contents.status();
  }
  return ParseSealingKey(*contents, "sealing key credential file", path);
}

absl::StatusOr<SealingKey> GenerateSealingKeyFile(const std::string& path) {
  std::string material(kSealingKeySize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(material.data()),
                 static_cast<int>(material.size())) != 1) {
    WipeString(material);  // whatever part of a key the generator produced before failing
    return absl::InternalError("generating a sealing key: the random number generator failed");
  }
  SecretString key_bytes(std::move(material));
  std::string text;
  text.reserve(kHexKeySize + 1);
  for (unsigned char byte : key_bytes.Reveal()) {
    text.push_back(kHexDigits[byte >> 4]);
    text.push_back(kHexDigits[byte & 0xf]);
  }
  text.push_back('\n');
  SecretString file_text(std::move(text));

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          "sealing key file ", path,
          " already exists; load it instead (a new key cannot open what the old one sealed)"));
    }
    return absl::PermissionDeniedError(absl::StrCat("sealing key file ", path,
                                                    ": cannot create it: ", std::strerror(err),
                                                    "; check that its directory is writable"));
  }
  int err = WriteFully(fd, file_text.Reveal());
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err != 0) {
    ::unlink(path.c_str());
    return absl::InternalError(
        absl::StrCat("sealing key file ", path, ": writing it failed: ", std::strerror(err)));
  }
  // Make the new directory entry durable too.
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return MakeSealingKey(std::move(key_bytes));
}

absl::StatusOr<SealingKey> LoadOrGenerateSealingKeyFile(const std::string& path) {
  absl::StatusOr<SealingKey> key = LoadSealingKeyFile(path);
  if (!absl::IsNotFound(key.status())) return key;
  return GenerateSealingKeyFile(path);
}

}  // namespace kcred::store
