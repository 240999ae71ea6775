// A process's identity in its state directory (SEMANTICS CK-05): the id its transactional
// producers are named after, kept across restarts so a restarted process fences its
// predecessor at once (init_transactions aborts the dead instance's open transaction) instead
// of leaving read_committed readers and changelog restores waiting for transaction.timeout.ms.
// Kafka Streams keeps its process id in its state directory for the same reason.
//
// Layout: `<state_dir>/<consumer_group>/.streamframe-process.<slot>`, one UUID per file. An
// Application takes the lowest slot whose file no other live Application holds (an exclusive
// flock on the open file, released by the kernel when the holder dies, SIGKILL included), so
// instances sharing one state directory get distinct ids, and a restarted instance finds the
// slot its predecessor held free again.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

namespace streamframe::detail {

class ProcessIdentity {
 public:
  // Takes a slot under `group_dir` (created if needed). Throws streamframe::Error when the
  // directory cannot hold one.
  static ProcessIdentity acquire(const std::filesystem::path& group_dir);

  ProcessIdentity(ProcessIdentity&& other) noexcept;
  ProcessIdentity& operator=(ProcessIdentity&& other) noexcept;
  ProcessIdentity(const ProcessIdentity&) = delete;
  ProcessIdentity& operator=(const ProcessIdentity&) = delete;
  ~ProcessIdentity();

  const std::string& id() const { return id_; }  // a UUID, e.g. "0b5e...-..."
  const std::filesystem::path& file() const { return file_; }
  bool created() const { return created_; }  // the id is new (no predecessor to fence)

 private:
  ProcessIdentity(int fd, std::string id, std::filesystem::path file, bool created)
      : fd_(fd), id_(std::move(id)), file_(std::move(file)), created_(created) {}
  int fd_ = -1;
  std::string id_;
  std::filesystem::path file_;
  bool created_ = false;
};

// A random (version 4) UUID, lower-case text.
std::string random_uuid();

}  // namespace streamframe::detail
