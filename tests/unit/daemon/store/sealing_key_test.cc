// Sealing keys: the key file format, its permission check, systemd credentials, generation, and
// error messages that say exactly what to fix without showing key bytes.

#include "daemon/store/sealing_key.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace kcred::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHexKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

int ModeOf(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return -1;
  return static_cast<int>(info.st_mode & 07777);
}

class SealingKeyTest : public ::testing::Test {
 protected:
  std::string WriteKey(const std::string& name, const std::string& contents, int mode = 0600) {
    const std::string path = dir_.File(name);
    EXPECT_TRUE(testing::WriteFile(path, contents, mode).ok());
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);  // independent of the umask
    return path;
  }
  std::string HowToCreate(const std::string& path) {
    return absl::StrCat("create one with `(umask 077; openssl rand -hex 32 > ", path, ")`");
  }

  testing::TempDir dir_;
};

// A key file of 64 hex digits in either case, with or without a newline, loads as their 32 bytes.
TEST_F(SealingKeyTest, LoadsHexWithOrWithoutNewline) {
  // 64 hex digits (any case), with an optional trailing newline, are the 32 key bytes.
  for (const std::string& contents :
       {std::string(kHexKey), absl::StrCat(kHexKey, "\n"), absl::StrCat(kHexKey, "\r\n"),
        absl::AsciiStrToUpper(kHexKey)}) {
    absl::StatusOr<SealingKey> key = LoadSealingKeyFile(WriteKey("sealing.key", contents));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->material.Reveal(),
              std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
                          "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
                          32));
    EXPECT_EQ(key->id, SealingKeyId(key->material.Reveal()));
  }
}

// A key file of the wrong length is refused with its size in bytes and the command that makes one.
TEST_F(SealingKeyTest, WrongLengthIsRejectedWithTheExactMessage) {
  // Too short, too long, raw bytes or two newlines: the message gives the size and the fix.
  for (const std::string& contents :
       {std::string(kHexKey).substr(0, 62), absl::StrCat(kHexKey, "00"), std::string(32, 'k'),
        absl::StrCat(kHexKey, "\n\n"), std::string()}) {
    const std::string path = WriteKey("sealing.key", contents);
    absl::StatusOr<SealingKey> key = LoadSealingKeyFile(path);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(key.status().message(),
              absl::StrCat("sealing key file ", path,
                           ": expected 64 hex digits (a 32-byte AES-256 key) and an optional "
                           "newline, found ",
                           contents.size(), " bytes; ", HowToCreate(path)));
  }
}

// A non-hex character is refused by its position, without quoting the file.
TEST_F(SealingKeyTest, NonHexDigitIsRejectedWithoutEchoingTheFile) {
  // A non-hex character is reported by position; the file's contents are not repeated.
  std::string contents = kHexKey;
  contents[10] = 'z';
  const std::string path = WriteKey("sealing.key", contents);
  absl::StatusOr<SealingKey> key = LoadSealingKeyFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(key.status().message(),
            absl::StrCat("sealing key file ", path,
                         ": byte 10 is not a hex digit; the file must hold exactly 64 hex digits; ",
                         HowToCreate(path)));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("0011223344")));
}

// A key file readable or writable by group or others is refused with the chmod to run; 0400 loads.
TEST_F(SealingKeyTest, GroupOrWorldAccessibleFileIsRefused) {
  // A key file any other user could read (or write) is refused with the chmod to run.
  for (int mode : {0644, 0640, 0604, 0620, 0602}) {
    const std::string path = WriteKey("sealing.key", kHexKey, mode);
    absl::StatusOr<SealingKey> key = LoadSealingKeyFile(path);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied) << mode;
    char octal[8];
    snprintf(octal, sizeof(octal), "%04o", mode);
    EXPECT_EQ(key.status().message(),
              absl::StrCat("sealing key file ", path, " is accessible by group or others (mode ",
                           octal, "); run `chmod 600 ", path, "`"));
  }
  EXPECT_TRUE(LoadSealingKeyFile(WriteKey("sealing.key", kHexKey, 0400)).ok());
}

// A missing key file is NOT_FOUND with the command that makes one.
TEST_F(SealingKeyTest, MissingFileSaysHowToCreateOne) {
  // A missing key file is NOT_FOUND with the command that makes one.
  const std::string path = dir_.File("absent.key");
  absl::StatusOr<SealingKey> key = LoadSealingKeyFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(key.status().message(),
            absl::StrCat("sealing key file ", path, " does not exist; ", HowToCreate(path)));
}

// A directory given as the key file is refused as not a regular file.
TEST_F(SealingKeyTest, DirectoryIsNotAKeyFile) {
  // Pointing at a directory is reported as such.
  ASSERT_EQ(::mkdir(dir_.File("keys").c_str(), 0700), 0);
  absl::StatusOr<SealingKey> key = LoadSealingKeyFile(dir_.File("keys"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("is not a regular file"));
}

// A systemd credential in $CREDENTIALS_DIRECTORY loads as the same key as the file itself.
TEST_F(SealingKeyTest, LoadsFromTheSystemdCredentialsDirectory) {
  // $CREDENTIALS_DIRECTORY/<name> is read like a key file.
  WriteKey("sealing-key", kHexKey, 0400);
  absl::StatusOr<SealingKey> key = LoadSealingKeyCredential("sealing-key", dir_.path());
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<SealingKey> same = LoadSealingKeyFile(dir_.File("sealing-key"));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(key->id, same->id);
}

// Without $CREDENTIALS_DIRECTORY, or the credential in it, the error gives the unit's
// LoadCredential line; a credential name with a path is refused.
TEST_F(SealingKeyTest, CredentialErrorsSayHowToConfigureSystemd) {
  // Without $CREDENTIALS_DIRECTORY, or without the credential in it, the message names the unit
  // setting; a name with a slash is refused.
  absl::StatusOr<SealingKey> unset = LoadSealingKeyCredential("sealing-key", "");
  EXPECT_EQ(unset.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(unset.status().message(),
            "sealing key credential \"sealing-key\": $CREDENTIALS_DIRECTORY is not set; run kcredd "
            "under systemd with `LoadCredential=sealing-key:/etc/kcred/sealing.key` in its unit, "
            "or configure a key file");
  absl::StatusOr<SealingKey> missing = LoadSealingKeyCredential("sealing-key", dir_.path());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(
      missing.status().message(),
      absl::StrCat("sealing key credential \"sealing-key\" is not in $CREDENTIALS_DIRECTORY (",
                   dir_.path(),
                   "); add `LoadCredential=sealing-key:/etc/kcred/sealing.key` to kcredd's "
                   "unit"));
  EXPECT_EQ(LoadSealingKeyCredential("../etc/key", dir_.path()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A generated key file is 0600, 64 lower-case hex digits and a newline, and loads as the same key.
TEST_F(SealingKeyTest, GeneratedKeyFileIsPrivateAndLoadsBack) {
  // A generated key file is 0600, in the documented format, and loads as the same key.
  const std::string path = dir_.File("dev.key");
  absl::StatusOr<SealingKey> generated = GenerateSealingKeyFile(path);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(ModeOf(path), 0600);
  absl::StatusOr<std::string> contents = testing::ReadFile(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->size(), 65u);
  EXPECT_EQ(contents->back(), '\n');
  EXPECT_EQ(contents->find_first_not_of("0123456789abcdef"), 64u);
  absl::StatusOr<SealingKey> loaded = LoadSealingKeyFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->id, generated->id);
  EXPECT_TRUE(loaded->material == generated->material);
}

// Generating over an existing key file is ALREADY_EXISTS naming it, and leaves the key as it was.
TEST_F(SealingKeyTest, GenerateNeverReplacesAnExistingKey) {
  // Generating over an existing file fails and leaves the old key intact.
  const std::string path = WriteKey("dev.key", kHexKey);
  absl::StatusOr<SealingKey> generated = GenerateSealingKeyFile(path);
  EXPECT_EQ(generated.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(generated.status().message(), HasSubstr(path));
  EXPECT_EQ(*testing::ReadFile(path), kHexKey);
}

// LoadOrGenerate makes a key once and loads that same key afterwards.
TEST_F(SealingKeyTest, LoadOrGenerateKeepsTheFirstKey) {
  // Dev mode's helper makes a key once and then keeps loading that key.
  const std::string path = dir_.File("dev.key");
  absl::StatusOr<SealingKey> first = LoadOrGenerateSealingKeyFile(path);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<SealingKey> second = LoadOrGenerateSealingKeyFile(path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->id, second->id);
  absl::StatusOr<SealingKey> other = GenerateSealingKeyFile(dir_.File("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id, first->id);
}

// MakeSealingKey takes exactly 32 bytes and refuses 31, saying how many it got.
TEST_F(SealingKeyTest, MakeSealingKeyChecksTheSize) {
  // Only 32 raw bytes make an AES-256 key.
  EXPECT_TRUE(MakeSealingKey(SecretString(std::string(32, 'k'))).ok());
  absl::StatusOr<SealingKey> short_key = MakeSealingKey(SecretString(std::string(31, 'k')));
  EXPECT_EQ(short_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_key.status().message(), "sealing key is 31 bytes; AES-256 needs exactly 32");
}

}  // namespace
}  // namespace kcred::store
