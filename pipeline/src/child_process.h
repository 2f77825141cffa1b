// Running a stage's commands: each in its own process group, output to a log file, a timeout,
// and no orphans (children die with the pipeline, and a whole group is killed on timeout or
// interruption). Several children (the shards of a stage) can run side by side; when one fails
// the others are stopped.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mcip::pipeline {

struct ChildResult {
  int exit_code = -1;    // valid when signal == 0
  int signal = 0;        // the signal that ended the child, if any
  bool timed_out = false;
  bool interrupted = false;  // the pipeline itself got SIGINT/SIGTERM
  bool cancelled = false;    // stopped (or never started) because a sibling failed
  double seconds = 0;
  bool ok() const { return !timed_out && !interrupted && !cancelled && signal == 0 && exit_code == 0; }
  std::string describe() const;
};

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] must be a path to an executable
  std::map<std::string, std::string> env;
  std::filesystem::path log;      // stdout and stderr
  int timeout_s = 0;              // 0 = no limit
};

// Runs one child to completion.
ChildResult run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::filesystem::path& log, int timeout_s);

// Runs the children, at most `max_parallel` at once (0 = all), in order. When one fails (exit
// code, signal, timeout) the running ones are stopped and the rest are not started: their
// results say `cancelled`. `on_finish` is called as each child ends (e.g. to record completed
// work at once, so a rerun can reuse it even if a sibling fails later).
std::vector<ChildResult> run_children(const std::vector<ChildSpec>& children, int max_parallel,
                                      const std::function<void(size_t, const ChildResult&)>& on_finish = {});

// Installs SIGINT/SIGTERM handlers that make run_child/run_children stop their children and return.
void install_interrupt_handlers();
bool interrupted();

}  // namespace mcip::pipeline
