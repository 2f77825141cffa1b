// Helpers shared by the MCP tests: running mcip-synth, the fake server, checking for leftovers.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/test_support.h"

namespace mcip::mcp::testing {

std::filesystem::path source_dir();
std::string fake_server();  // "python3 <abs path>/fake_server.py"

// A fresh scratch directory removed at scope exit.
struct TempDir : mcip::test::ScratchDir {
  TempDir() : ScratchDir("mcp") {}
};

using RunResult = mcip::test::CommandResult;
// Runs `mcip-synth <args>` (args already shell-quoted) and captures its output.
RunResult run_synth(const std::string& args);

using mcip::test::quote;

// Pids written by the fake server into FAKE_PID_FILE.
std::vector<pid_t> read_pids(const std::filesystem::path& file);
// True if no process with this pid exists any more (or it is a zombie of someone else's).
bool process_gone(pid_t pid);
// True if this test process has no child processes left, reaped or not.
bool no_children_left();

}  // namespace mcip::mcp::testing
