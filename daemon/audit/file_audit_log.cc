#include "daemon/audit/file_audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace kcred::audit {
namespace {

// What the operator can do about `err`, as a "; ..." suffix ("" when there is nothing to say).
std::string Remedy(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::StrCat("; make the file and its directory writable by uid ", ::geteuid(),
                          ", which kcredd runs as");
    case EROFS:
      return "; its filesystem is read-only (under systemd, give kcredd a writable directory "
             "with LogsDirectory= or ReadWritePaths=)";
    case ENOSPC:
    case EDQUOT:
      return "; free space on its filesystem";
    default:
      return "";
  }
}

absl::Status SinkError(const std::string& path, absl::string_view action, int err) {
  return absl::UnavailableError(
      absl::StrCat("audit log ", path, ": cannot ", action, ": ", std::strerror(err), Remedy(err)));
}

std::string DirectoryOf(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// Makes renames and new entries in `dir` durable; 0 or the errno.
int SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// The audit file opened for appending during one batch; closed on destruction.
class AppendFile {
 public:
  // Opens `path` for appending, creating it with mode 0600 when it is missing.
  static absl::StatusOr<std::unique_ptr<AppendFile>> Open(const std::string& path) {
    bool created = false;
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
      created = fd >= 0;
    }
    if (fd < 0) return SinkError(path, "open it for appending", errno);
    std::unique_ptr<AppendFile> file(new AppendFile(path, fd, created));
    struct stat st {};
    if (::fstat(fd, &st) != 0) return SinkError(path, "stat it", errno);
    file->regular_ = S_ISREG(st.st_mode);
    file->size_ = st.st_size;
    return file;
  }

  ~AppendFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // False for a device or a pipe (/dev/stdout in a container): no rotation, nothing to fsync.
  bool regular() const { return regular_; }
  int64_t size() const { return size_; }

  // Writes `data` and fsyncs. A failed write is cut back to where it began (a regular file),
  // so the next record does not continue a torn line.
  absl::Status Append(absl::string_view data) {
    size_t written = 0;
    if (const int err = WriteFully(fd_, data, &written); err != 0) {
      if (regular_ && written > 0 && ::ftruncate(fd_, size_) != 0) {
        // The write's error is the one to report; the torn line stays.
      }
      return SinkError(path_, "write a record", err);
    }
    size_ += static_cast<int64_t>(data.size());
    if (::fsync(fd_) != 0) {
      const int err = errno;
      if (regular_ || err != EINVAL) return SinkError(path_, "fsync it", err);
    }
    return absl::OkStatus();
  }

  // Closes the file and, when this batch created it, makes its directory entry durable.
  absl::Status Close() {
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return SinkError(path_, "close it", errno);
    if (created_) {
      if (const int err = SyncDirectory(DirectoryOf(path_)); err != 0) {
        return SinkError(path_, "fsync its directory", err);
      }
    }
    return absl::OkStatus();
  }

 private:
  AppendFile(std::string path, int fd, bool created)
      : path_(std::move(path)), fd_(fd), created_(created) {}

  const std::string path_;
  int fd_;
  const bool created_;
  bool regular_ = true;
  int64_t size_ = 0;
};

// Open's errors are about setup, not a passing condition: FailedPrecondition with the same text.
absl::Status SetupError(const absl::Status& status) {
  return absl::FailedPreconditionError(status.message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileAuditLog>> FileAuditLog::Open(const AuditSinkOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "audit log: no file given; name the audit file (e.g. /var/log/kcred/audit.log)");
  }
  if (options.max_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log ", path, ": max_bytes is ", options.max_bytes,
                     "; give the size at which the file is rotated, or 0 to never rotate it"));
  }
  if (options.max_files < 1) {
    return absl::InvalidArgumentError(absl::StrCat("audit log ", path, ": max_files is ",
                                                   options.max_files,
                                                   "; keep at least 1 rotated file"));
  }
  if (absl::Status s = CreatePrivateDirectories(DirectoryOf(path)); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("audit log ", path, ": ", s.message(),
                                                      "; create it, writable by uid ", ::geteuid(),
                                                      ", or choose another file"));
  }
  absl::StatusOr<std::unique_ptr<AppendFile>> file = AppendFile::Open(path);
  if (!file.ok()) return SetupError(file.status());
  if (absl::Status s = (*file)->Close(); !s.ok()) return SetupError(s);
  return std::unique_ptr<FileAuditLog>(new FileAuditLog(options));
}

absl::Status FileAuditLog::Write(const nlohmann::json& record) {
  absl::StatusOr<std::string> line = AuditLine(record);
  if (!line.ok()) {
    failed_.fetch_add(1);
    return line.status();
  }
  line->push_back('\n');
  std::shared_ptr<Batch> batch;
  {
    absl::MutexLock lock(&mu_);
    if (queued_ == nullptr) queued_ = std::make_shared<Batch>();
    batch = queued_;
    batch->lines.push_back(std::move(*line));
    // Once no batch is in flight, either another thread has written ours, or ours is next and
    // this thread writes it, with every record queued until then.
    auto ready = [this, &batch]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return batch->done || !writing_; };
    mu_.Await(absl::Condition(&ready));
    if (batch->done) return batch->status;
    writing_ = true;
    queued_ = nullptr;
  }
  // Unlocked while the disk works: records arriving meanwhile gather in the next batch. Nobody
  // else touches this batch's lines once it left queued_.
  const absl::Status status = WriteBatch(batch->lines);
  (status.ok() ? written_ : failed_).fetch_add(batch->lines.size());
  absl::MutexLock lock(&mu_);
  batch->status = status;
  batch->done = true;
  writing_ = false;
  return status;
}

absl::Status FileAuditLog::WriteBatch(const std::vector<std::string>& lines) {
  absl::StatusOr<std::unique_ptr<AppendFile>> file = AppendFile::Open(options_.path);
  if (!file.ok()) return file.status();
  std::string chunk;
  for (const std::string& line : lines) {
    const int64_t size = (*file)->size() + static_cast<int64_t>(chunk.size());
    const bool rotate = options_.max_bytes > 0 && (*file)->regular() && size > 0 &&
                        size + static_cast<int64_t>(line.size()) > options_.max_bytes;
    if (rotate) {
      if (!chunk.empty()) {
        if (absl::Status s = (*file)->Append(chunk); !s.ok()) return s;
        chunk.clear();
      }
      if (absl::Status s = (*file)->Close(); !s.ok()) return s;
      if (absl::Status s = Rotate(); !s.ok()) return s;
      file = AppendFile::Open(options_.path);
      if (!file.ok()) return file.status();
    }
    chunk += line;
  }
  if (absl::Status s = (*file)->Append(chunk); !s.ok()) return s;
  return (*file)->Close();
}

absl::Status FileAuditLog::Rotate() {
  const std::string& path = options_.path;
  auto name = [&path](int i) { return i == 0 ? path : absl::StrCat(path, ".", i); };
  // path.(N-1) replaces path.N, dropping the oldest; missing files are gaps to skip.
  for (int i = options_.max_files - 1; i >= 0; --i) {
    if (::rename(name(i).c_str(), name(i + 1).c_str()) != 0 && errno != ENOENT) {
      return SinkError(path, absl::StrCat("rotate ", name(i), " to ", name(i + 1)), errno);
    }
  }
  if (const int err = SyncDirectory(DirectoryOf(path)); err != 0) {
    return SinkError(path, "fsync its directory after rotating", err);
  }
  return absl::OkStatus();
}

}  // namespace kcred::audit
