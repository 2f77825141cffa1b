#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace mcip::pipeline {
namespace {

// Set from the signal handler; the only process-wide state here, as signals are process-wide.
volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int) { g_interrupted = 1; }

void kill_group(pid_t pid, int sig) { ::kill(-pid, sig); }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted != 0; }

std::string ChildResult::describe() const {
  if (interrupted) return "interrupted";
  if (timed_out) return fmt::format("timed out after {:.0f} s", seconds);
  if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exit code {}", exit_code);
}

ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::filesystem::path& log, int timeout_s) {
  if (argv.empty()) throw std::invalid_argument("empty command");
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error(fmt::format("{}: cannot create log: {}", log.string(), std::strerror(errno)));

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const auto start = std::chrono::steady_clock::now();

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: own group (so timeouts kill grandchildren too), die with the pipeline.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(128 + SIGKILL);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    ::execv(args[0], args.data());
    dprintf(2, "mcip-pipeline: cannot execute %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works without a race
  ::close(log_fd);

  ChildResult result;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  bool term_sent = false;
  double term_at = 0;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
      break;
    }
    if (r < 0 && errno != EINTR) throw std::runtime_error(fmt::format("waitpid failed: {}", std::strerror(errno)));
    const double t = elapsed();
    const bool over_time = timeout_s > 0 && t > timeout_s;
    if ((over_time || interrupted()) && !term_sent) {
      result.timed_out = over_time;
      result.interrupted = interrupted();
      kill_group(pid, SIGTERM);
      term_sent = true;
      term_at = t;
    } else if (term_sent && t - term_at > 5.0) {
      kill_group(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Reap anything the stage left running in its group.
  kill_group(pid, SIGKILL);
  result.seconds = elapsed();
  return result;
}

}  // namespace mcip::pipeline
