#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace kcred {
namespace {

absl::Status ErrnoError(int err, absl::string_view action, const std::string& path) {
  std::string msg = absl::StrCat("cannot ", action, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace

int WriteFully(int fd, absl::string_view data, size_t* written) {
  size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (written != nullptr) *written = done;
  return err;
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return ErrnoError(errno, "create a temporary file in", dir.string());
  auto fail = [&](absl::string_view action) {
    int err = errno;
    close(fd);
    unlink(tmpl.c_str());
    return ErrnoError(err, action, path);
  };
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("set the mode of");
  if (int err = WriteFully(fd, data); err != 0) {
    errno = err;
    return fail("write");
  }
  if (fsync(fd) != 0) return fail("fsync");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmpl.c_str());
    return ErrnoError(err, "close", path);
  }
  if (rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmpl.c_str());
    return ErrnoError(err, "rename a temporary file onto", path);
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "read", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoError(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::StatusOr<SecretString> ReadSecretFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "read", path);
  struct stat st {};
  // Sized from the file so that one buffer, never reallocated behind our back, holds the bytes.
  size_t capacity = fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  std::string buffer(capacity + 1, '\0');
  size_t size = 0;
  for (;;) {
    if (size == buffer.size()) {
      // The file grew while being read: move to a larger buffer and wipe the old one.
      std::string larger(2 * buffer.size(), '\0');
      std::memcpy(larger.data(), buffer.data(), size);
      WipeString(buffer);
      buffer.swap(larger);
    }
    ssize_t n = read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      WipeString(buffer);
      return ErrnoError(err, "read", path);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  buffer.resize(size);  // shrinking keeps the allocation, which SecretString wipes whole
  return SecretString(std::move(buffer));
}

absl::Status CreatePrivateDirectories(const std::string& dir) {
  std::filesystem::path partial;
  for (const auto& part : std::filesystem::path(dir)) {
    partial /= part;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "create the directory", partial.string());
    }
  }
  return absl::OkStatus();
}

}  // namespace kcred
