// Errors shared by every mcip component, and the exit codes the binaries map them to.
#pragma once
#include <stdexcept>
#include <string>

namespace mcip {

// Exit codes a scheduler or script can act on.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,   // a run failed for reasons other than its input (I/O, a crashed child, NaN loss)
  kExitBadInput = 2,  // the user's input is wrong: usage, config, data file, model files
};

// Raised for malformed or inconsistent user input. The message names the file and,
// where known, the line and the key/field so a user can go straight to the problem.
class InputError : public std::runtime_error {
 public:
  InputError(std::string file, int line, std::string field, const std::string& what);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  int line_;
  std::string field_;
};

// Formats "file:line: field: what" leaving out the parts that are unknown.
std::string format_input_error(const std::string& file, int line, const std::string& field,
                               const std::string& what);

}  // namespace mcip
