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

using Clock = std::chrono::steady_clock;

pid_t start_child(const ChildSpec& spec) {
  if (spec.argv.empty()) throw std::invalid_argument("empty command");
  int log_fd = ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error(fmt::format("{}: cannot create log: {}", spec.log.string(), std::strerror(errno)));

  std::vector<char*> args;
  for (const auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();

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
    for (const auto& [k, v] : spec.env) ::setenv(k.c_str(), v.c_str(), 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    ::execv(args[0], args.data());
    dprintf(2, "mcip-pipeline: cannot execute %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works without a race
  ::close(log_fd);
  return pid;
}

struct Running {
  size_t index = 0;
  pid_t pid = -1;
  Clock::time_point start;
  bool term_sent = false;
  double term_at = 0;
  ChildResult result;
};

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
  if (cancelled) return "stopped because another process of the stage failed";
  if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exit code {}", exit_code);
}

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& children, int max_parallel,
                                      const std::function<void(size_t, const ChildResult&)>& on_finish) {
  std::vector<ChildResult> results(children.size());
  const size_t limit = max_parallel > 0 ? static_cast<size_t>(max_parallel) : children.size();
  std::vector<Running> running;
  size_t next = 0;
  bool failed = false;
  auto elapsed = [](const Running& r) { return std::chrono::duration<double>(Clock::now() - r.start).count(); };
  for (;;) {
    while (!failed && !interrupted() && running.size() < limit && next < children.size()) {
      Running r;
      r.index = next;
      r.pid = start_child(children[next]);
      r.start = Clock::now();
      running.push_back(r);
      ++next;
    }
    if (running.empty()) break;
    for (size_t i = 0; i < running.size();) {
      Running& r = running[i];
      int status = 0;
      const pid_t w = ::waitpid(r.pid, &status, WNOHANG);
      if (w < 0 && errno != EINTR) throw std::runtime_error(fmt::format("waitpid failed: {}", std::strerror(errno)));
      if (w != r.pid) {
        ++i;
        continue;
      }
      if (WIFEXITED(status)) r.result.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) r.result.signal = WTERMSIG(status);
      kill_group(r.pid, SIGKILL);  // reap anything the command left running in its group
      r.result.seconds = elapsed(r);
      // A child that finished cleanly before the stop reached it did its work.
      if (r.result.exit_code == 0 && r.result.signal == 0) r.result.cancelled = false;
      results[r.index] = r.result;
      if (!r.result.ok() && !r.result.cancelled && !r.result.interrupted) failed = true;
      if (on_finish) on_finish(r.index, r.result);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
    for (auto& r : running) {
      const double t = elapsed(r);
      const bool over_time = children[r.index].timeout_s > 0 && t > children[r.index].timeout_s;
      if ((over_time || interrupted() || failed) && !r.term_sent) {
        r.result.timed_out = over_time;
        r.result.interrupted = interrupted();
        r.result.cancelled = failed && !over_time && !interrupted();
        kill_group(r.pid, SIGTERM);
        r.term_sent = true;
        r.term_at = t;
      } else if (r.term_sent && t - r.term_at > 5.0) {
        kill_group(r.pid, SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (size_t i = next; i < children.size(); ++i) {
    results[i].cancelled = !interrupted();
    results[i].interrupted = interrupted();
  }
  return results;
}

ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::filesystem::path& log, int timeout_s) {
  return run_children({ChildSpec{argv, env, log, timeout_s}}, 1).front();
}

}  // namespace mcip::pipeline
