// A child process with piped stdin/stdout/stderr, owned RAII-style: the destructor always
// closes stdin, terminates the child (and its process group) if it is still running, and
// reaps it, so no code path leaves a zombie or an orphaned server behind.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcip::mcp {

using Clock = std::chrono::steady_clock;

struct ChildOptions {
  std::vector<std::string> argv;                            // argv[0] is looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;     // added to / overriding our environment
  std::filesystem::path working_directory;                  // empty: inherit ours
  std::size_t stderr_capture_bytes = 64 * 1024;             // keep the last N bytes of stderr
  std::chrono::milliseconds terminate_grace{2000};          // SIGTERM → SIGKILL delay
};

class ChildProcess {
 public:
  enum class ReadStatus { kLine, kEof, kTimeout, kLineTooLong };

  // Spawns the child. Throws std::system_error-free std::runtime_error with the errno text
  // (e.g. "No such file or directory") when the program cannot be started.
  explicit ChildProcess(const ChildOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Writes all of `data` to the child's stdin before `deadline`. Returns false if the child
  // closed its stdin (EPIPE) or the deadline passed; never raises SIGPIPE.
  bool write_all(const std::string& data, Clock::time_point deadline);

  // Reads the next '\n'-terminated line from stdout (without the newline) while draining
  // stderr into the capture buffer. A line longer than `max_line_bytes` yields kLineTooLong.
  ReadStatus read_line(std::string& line, Clock::time_point deadline, std::size_t max_line_bytes);

  // The captured tail of stderr (drains whatever is immediately readable first).
  std::string stderr_tail();

  // Non-blocking check: has the child exited? Fills a description like "exit status 3" or
  // "killed by signal 9 (Killed)".
  std::optional<std::string> exit_description();

  // Closes stdin, gives the child `grace` to exit on its own, then SIGTERM, then SIGKILL;
  // reaps it. Idempotent. Returns how the child ended.
  std::string shutdown(std::chrono::milliseconds grace);

 private:
  void drain_stderr();
  void close_stdin();
  bool wait_for_exit(std::chrono::milliseconds timeout);
  void record_status(int status);

  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  bool reaped_ = false;
  std::string exit_text_;
  std::string stdout_buffer_;
  std::string stderr_buffer_;
  std::size_t stderr_capture_bytes_;
  std::chrono::milliseconds terminate_grace_;
};

}  // namespace mcip::mcp
