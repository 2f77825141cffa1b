#include "mcip/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mcip::mcp {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Pipes whose both ends are close-on-exec: the child only gets the ends dup2'd onto 0/1/2,
// so servers never inherit (and hold open) each other's pipes.
struct Pipe {
  int read_end = -1, write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    close_fd(read_end);
    close_fd(write_end);
  }
};

// Owns the posix_spawn attribute objects so every exit path destroys them.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

std::vector<std::string> merged_environment(const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : overrides) env[key] = value;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left);
}

}  // namespace

ChildProcess::ChildProcess(const ChildOptions& options)
    : stderr_capture_bytes_(options.stderr_capture_bytes), terminate_grace_(options.terminate_grace) {
  if (options.argv.empty()) throw std::runtime_error("empty argv");
  Pipe in, out, err;
  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, in.read_end, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out.write_end, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err.write_end, STDERR_FILENO);
  if (!options.working_directory.empty())
    posix_spawn_file_actions_addchdir_np(&setup.actions, options.working_directory.c_str());

  // Own process group, so shutdown also reaches whatever the server forks (npx, sh -c, ...).
  // Default signal dispositions and an empty mask: the server must not inherit our blocked
  // SIGPIPE or ignored signals.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);

  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto env_strings = merged_environment(options.env);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // posix_spawnp in PATH lookup uses *our* PATH; an --env PATH=... override is meant for the
  // server's own children, which matches how env(1) behaves.
  const int rc = ::posix_spawnp(&pid_, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error(std::string("cannot start '") + options.argv[0] + "': " + std::strerror(rc));
  }
  stdin_fd_ = in.write_end;
  in.write_end = -1;
  stdout_fd_ = out.read_end;
  out.read_end = -1;
  stderr_fd_ = err.read_end;
  err.read_end = -1;
  set_nonblocking(stdin_fd_);
  set_nonblocking(stdout_fd_);
  set_nonblocking(stderr_fd_);
}

ChildProcess::~ChildProcess() {
  try {
    shutdown(terminate_grace_);
  } catch (...) {
    // A destructor must not throw; shutdown only fails on impossible waitpid errors.
  }
}

bool ChildProcess::write_all(const std::string& data, Clock::time_point deadline) {
  if (stdin_fd_ < 0) return false;
  // Block SIGPIPE on this thread for the write, and swallow the one a dead reader raises,
  // so a crashed server becomes an error message instead of killing us.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  bool ok = true;
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(stdin_fd_, data.data() + written, data.size() - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{stdin_fd_, POLLOUT, 0};
      const int ms = remaining_ms(deadline);
      if (ms == 0 || ::poll(&p, 1, ms) == 0) {
        ok = false;
        break;
      }
      continue;
    }
    ok = false;  // EPIPE or another write error
    break;
  }
  if (!ok && !was_pending) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return ok;
}

ChildProcess::ReadStatus ChildProcess::read_line(std::string& line, Clock::time_point deadline,
                                                 std::size_t max_line_bytes) {
  for (;;) {
    const auto newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      if (newline > max_line_bytes) return ReadStatus::kLineTooLong;
      line.assign(stdout_buffer_, 0, newline);
      stdout_buffer_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return ReadStatus::kLine;
    }
    if (stdout_buffer_.size() > max_line_bytes) return ReadStatus::kLineTooLong;
    if (stdout_fd_ < 0) {
      line = stdout_buffer_;  // an unterminated last fragment, if any, for the error message
      stdout_buffer_.clear();
      return ReadStatus::kEof;
    }
    const int ms = remaining_ms(deadline);
    if (ms == 0) return ReadStatus::kTimeout;
    pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    const int nfds = stderr_fd_ >= 0 ? 2 : 1;
    const int rc = ::poll(fds, nfds, ms);
    if (rc < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (rc <= 0) continue;
    if (nfds == 2 && fds[1].revents) drain_stderr();
    if (fds[0].revents) {
      char chunk[65536];
      const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
      if (n > 0) {
        stdout_buffer_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(stdout_fd_);
      }
    }
  }
}

void ChildProcess::drain_stderr() {
  while (stderr_fd_ >= 0) {
    char chunk[16384];
    const ssize_t n = ::read(stderr_fd_, chunk, sizeof chunk);
    if (n > 0) {
      stderr_buffer_.append(chunk, static_cast<std::size_t>(n));
      if (stderr_buffer_.size() > stderr_capture_bytes_)
        stderr_buffer_.erase(0, stderr_buffer_.size() - stderr_capture_bytes_);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_fd(stderr_fd_);
  }
}

std::string ChildProcess::stderr_tail() {
  drain_stderr();
  return stderr_buffer_;
}

void ChildProcess::close_stdin() { close_fd(stdin_fd_); }

bool ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  // WNOWAIT: observe the exit without reaping, so the pid (= our process group id) stays
  // reserved until we have signalled the group one last time.
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_)
      return true;
    if (Clock::now() >= deadline) return false;
    drain_stderr();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ChildProcess::record_status(int status) {
  reaped_ = true;
  exit_text_ = describe_status(status);
}

std::optional<std::string> ChildProcess::exit_description() {
  if (reaped_) return exit_text_;
  if (pid_ < 0) return std::string("not started");
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
    if (info.si_code == CLD_EXITED) return "exit status " + std::to_string(info.si_status);
    return "killed by signal " + std::to_string(info.si_status) + " (" + ::strsignal(info.si_status) + ")";
  }
  return std::nullopt;
}

std::string ChildProcess::shutdown(std::chrono::milliseconds grace) {
  if (pid_ < 0 || reaped_) {
    close_stdin();
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
    return exit_text_;
  }
  close_stdin();  // the stdio transport's polite "please exit"
  if (!wait_for_exit(grace)) {
    ::kill(-pid_, SIGTERM);
    if (!wait_for_exit(grace)) {
      ::kill(-pid_, SIGKILL);
      wait_for_exit(std::chrono::hours(1));
    }
  }
  ::kill(-pid_, SIGKILL);  // leftovers the server forked; harmless if the group is empty
  drain_stderr();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
  }
  record_status(status);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  return exit_text_;
}

}  // namespace mcip::mcp
