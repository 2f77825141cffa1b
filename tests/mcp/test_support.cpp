#include "test_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace mcip::mcp::testing {
namespace fs = std::filesystem;

fs::path source_dir() { return MCIP_SOURCE_DIR; }

std::string fake_server() {
  return "python3 " + quote((source_dir() / "tests/mcp/fake_servers/fake_server.py").string());
}

RunResult run_synth(const std::string& args) { return mcip::test::run_command(quote(mcip::test::bin("mcip-synth")) + " " + args); }

std::vector<pid_t> read_pids(const fs::path& file) {
  std::vector<pid_t> pids;
  std::ifstream in(file);
  long pid;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

bool process_gone(pid_t pid) {
  // A killed grandchild is reparented to init and reaped asynchronously (or, in containers
  // whose init does not reap, stays a zombie): either way it no longer runs.
  for (int i = 0; i < 200; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool no_children_left() {
  errno = 0;
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

}  // namespace mcip::mcp::testing
