#include "directory_commit.h"

#include <unistd.h>

#include <fmt/format.h>

#include "mcip/atomic_file.h"

namespace fs = std::filesystem;

namespace mcip::train::detail {

void write_directory_atomic(const fs::path& dir, const std::function<void(const fs::path&)>& fill) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.tmp.{}", dir.filename().string(), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    fill(tmp);
    fsync_directory(tmp);
    if (fs::exists(dir)) {
      const fs::path old = parent / fmt::format(".{}.old.{}", dir.filename().string(), ::getpid());
      fs::remove_all(old);
      fs::rename(dir, old);
      fs::rename(tmp, dir);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, dir);
    }
    fsync_directory(parent);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace mcip::train::detail
