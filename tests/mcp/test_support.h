// Helpers shared by the MCP tests: temp dirs, running mcip-synth, checking for leftovers.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace mcip::mcp::testing {

std::filesystem::path source_dir();
std::string fake_server();  // "python3 <abs path>/fake_server.py"

// A fresh directory removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> entries() const;  // file names inside, sorted

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code;
  std::string output;  // stdout + stderr
};
// Runs `mcip-synth <args>` (args already shell-quoted) and captures its output.
RunResult run_synth(const std::string& args);

// Shell-quotes one argument.
std::string quote(const std::string& arg);

// Pids written by the fake server into FAKE_PID_FILE.
std::vector<pid_t> read_pids(const std::filesystem::path& file);
// True if no process with this pid exists any more (or it is a zombie of someone else's).
bool process_gone(pid_t pid);
// True if this test process has no child processes left, reaped or not.
bool no_children_left();

}  // namespace mcip::mcp::testing
