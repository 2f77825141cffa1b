#include "mcip/error.h"

#include <fmt/format.h>

namespace mcip {

std::string format_input_error(const std::string& file, int line, const std::string& field,
                               const std::string& what) {
  std::string out;
  if (!file.empty()) out += file;
  if (!file.empty() && line > 0) out += fmt::format(":{}", line);
  if (!out.empty()) out += ": ";
  if (!field.empty()) out += field + ": ";
  out += what;
  return out;
}

InputError::InputError(std::string file, int line, std::string field, const std::string& what)
    : std::runtime_error(format_input_error(file, line, field, what)),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)) {}

}  // namespace mcip
