#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "mcip/pipeline.h"

namespace fs = std::filesystem;

namespace mcip::pipeline {

fs::path find_tool(const std::string& name) {
  std::string tried;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path p = self.parent_path() / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
    tried += " " + p.string();
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      if (dir.empty()) continue;
      fs::path p = fs::path(dir) / name;
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    tried += " $PATH";
  }
  throw std::runtime_error("cannot find the '" + name + "' binary (looked in" + tried + ")");
}

}  // namespace mcip::pipeline
