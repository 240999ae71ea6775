// Child processes for process-level tests: a long-running program under test (ChildProcess)
// and one-shot commands with stdin/stdout/stderr captured (run_command), e.g. kcat.
//
// Children get PR_SET_PDEATHSIG(SIGKILL), so none outlives the test binary even when it is
// killed by a ctest timeout; ChildProcess's destructor SIGKILLs and reaps a child that is
// still running, so a failing test never leaves one behind.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace streamframe::test {

// "exited with code N" / "killed by signal N (NAME)".
inline std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = strsignal(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + (name ? name : "?") +
           ")";
  }
  return "wait status " + std::to_string(status);
}

namespace detail {

// fork + exec with the given fds as the child's 0, 1, 2. Everything the child needs is
// prepared before fork: between fork and exec only async-signal-safe calls are made (the
// test binary is multi-threaded). Throws when fork fails; an exec failure shows up as exit
// code 127 with a message on the child's stderr.
inline pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string exec_failed = "spawn: cannot execute " + argv[0] + "\n";
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
    // Signals the test binary ignores or blocks must not carry over to the program.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(126);
    ::execvp(args[0], args.data());
    (void)!::write(2, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  return pid;
}

inline void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace detail

// A program under test, running in the background with stdin from /dev/null and stdout and
// stderr appended to `log_path`.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log_path)
      : argv_(std::move(argv)), log_path_(std::move(log_path)) {
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
      detail::close_fd(in);
      detail::close_fd(out);
      throw std::runtime_error("ChildProcess: cannot open /dev/null or " + log_path_);
    }
    try {
      pid_ = detail::spawn(argv_, in, out, out);
    } catch (...) {
      detail::close_fd(in);
      detail::close_fd(out);
      throw;
    }
    detail::close_fd(in);
    detail::close_fd(out);
  }

  ~ChildProcess() { kill_and_reap(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  const std::string& log_path() const noexcept { return log_path_; }

  // Whether it still runs (reaps it, keeping its status, when it has exited).
  bool running() {
    if (status_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      return false;
    }
    return r == 0;
  }

  // Sends `sig` if it still runs.
  void signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }

  // Its wait status once it has exited, waiting up to `timeout`; nullopt if still running.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

  // SIGKILL (if running) and reap. Idempotent.
  int kill_and_reap() {
    if (!status_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = status;
    }
    return status_.value_or(0);
  }

  // Everything it wrote so far.
  std::string log() const {
    std::ifstream in(log_path_, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  // The last `max_chars` of the log, for failure messages.
  std::string log_tail(std::size_t max_chars = 4000) const {
    std::string all = log();
    if (all.size() > max_chars) all = "..." + all.substr(all.size() - max_chars);
    return "--- " + log_path_ + " ---\n" + all;
  }

 private:
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  int status = 0;          // wait status (see describe_wait_status)
  bool timed_out = false;  // killed after the timeout
  std::string out;
  std::string err;
  bool ok() const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string describe() const {
    return (timed_out ? std::string("timed out and killed") : describe_wait_status(status)) +
           "\nstderr: " + err;
  }
};

// Runs `argv` to completion with `input` on its stdin and its output captured; SIGKILLs it
// after `timeout`.
inline CommandResult run_command(const std::vector<std::string>& argv, std::string_view input,
                                 std::chrono::milliseconds timeout) {
  // A child that exits before reading all its input must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t pid = detail::spawn(argv, in[0], out[1], err[1]);
  detail::close_fd(in[0]);
  detail::close_fd(out[1]);
  detail::close_fd(err[1]);
  if (input.empty()) detail::close_fd(in[1]);
  if (in[1] >= 0) ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);

  CommandResult result;
  std::size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out[0] >= 0 || err[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    nfds_t n = 0;
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    if (out[0] >= 0) fds[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[n++] = {err[0], POLLIN, 0};
    const int r = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    for (nfds_t i = 0; r > 0 && i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in[1]) {
        const ssize_t w = ::write(in[1], input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE
        if (written >= input.size()) detail::close_fd(in[1]);
      } else {
        int& fd = fds[i].fd == out[0] ? out[0] : err[0];
        std::string& sink = &fd == &out[0] ? result.out : result.err;
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got > 0) {
          sink.append(buf, static_cast<std::size_t>(got));
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          detail::close_fd(fd);
        }
      }
    }
  }
  detail::close_fd(in[1]);
  detail::close_fd(out[0]);
  detail::close_fd(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = status;
  return result;
}

// Whether signal `sig` is pending for process `pid` (sent but its handler not yet started),
// from /proc/<pid>/status (ShdPnd: process-directed, SigPnd: the main thread's).
inline bool signal_pending(pid_t pid, int sig) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::uint64_t bit = std::uint64_t{1} << (sig - 1);
  bool pending = false;
  while (std::getline(in, line)) {
    if (line.rfind("ShdPnd:", 0) == 0 || line.rfind("SigPnd:", 0) == 0) {
      const std::uint64_t mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      if (mask & bit) pending = true;
    }
  }
  return pending;
}

}  // namespace streamframe::test
