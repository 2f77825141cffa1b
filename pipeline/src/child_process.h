// Running a stage's command: its own process group, output to a log file, a timeout, and
// no orphans (the child dies with the pipeline, and the whole group is killed on timeout
// or interruption).
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mcip::pipeline {

struct ChildResult {
  int exit_code = -1;    // valid when signal == 0
  int signal = 0;        // the signal that ended the child, if any
  bool timed_out = false;
  bool interrupted = false;  // the pipeline itself got SIGINT/SIGTERM
  double seconds = 0;
  std::string describe() const;
};

// Runs argv (argv[0] must be a path to an executable). stdout and stderr go to `log`.
ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::filesystem::path& log, int timeout_s);

// Installs SIGINT/SIGTERM handlers that make run_child stop its child and return.
void install_interrupt_handlers();
bool interrupted();

}  // namespace mcip::pipeline
