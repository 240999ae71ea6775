#include "app/process_identity.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "state/store.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

constexpr int kMaxSlots = 1024;

bool valid_uuid(std::string_view s) {
  uuid_t raw;
  const std::string copy(s);
  return s.size() == 36 && uuid_parse(copy.c_str(), raw) == 0;
}

[[noreturn]] void fail(const std::filesystem::path& file, const char* what) {
  throw Error("process identity '" + file.string() + "': " + what + ": " + std::strerror(errno));
}

// Reads the id in `fd`, or writes a new one when the file is empty or damaged (a crash while
// it was first written). Returns whether the id is new.
bool read_or_create(int fd, const std::filesystem::path& file, std::string& id) {
  char buf[64];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n < 0) fail(file, "read failed");
  std::string_view text(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (valid_uuid(text)) {
    id.assign(text);
    return false;
  }
  id = random_uuid();
  const std::string line = id + "\n";
  if (::ftruncate(fd, 0) != 0) fail(file, "truncate failed");
  if (::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    fail(file, "write failed");
  }
  // The id must survive a machine crash as well as a process crash: a later instance that
  // read no id could not fence this one.
  if (::fsync(fd) != 0) fail(file, "fsync failed");
  return true;
}

}  // namespace

std::string random_uuid() {
  uuid_t raw;
  uuid_generate_random(raw);
  char text[37];
  uuid_unparse_lower(raw, text);
  return text;
}

ProcessIdentity ProcessIdentity::acquire(const std::filesystem::path& group_dir) {
  state::ensure_writable_dir(group_dir);
  for (int slot = 0; slot < kMaxSlots; ++slot) {
    const auto file = group_dir / (".streamframe-process." + std::to_string(slot));
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(file, "open failed");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) continue;  // a live instance holds this slot
      errno = err;
      fail(file, "lock failed");
    }
    try {
      std::string id;
      const bool created = read_or_create(fd, file, id);
      return ProcessIdentity(fd, std::move(id), file, created);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  throw Error("process identity: all " + std::to_string(kMaxSlots) + " slots under '" +
              group_dir.string() + "' are held by running instances");
}

ProcessIdentity::ProcessIdentity(ProcessIdentity&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      id_(std::move(other.id_)),
      file_(std::move(other.file_)),
      created_(other.created_) {}

ProcessIdentity& ProcessIdentity::operator=(ProcessIdentity&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    id_ = std::move(other.id_);
    file_ = std::move(other.file_);
    created_ = other.created_;
  }
  return *this;
}

ProcessIdentity::~ProcessIdentity() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace streamframe::detail
