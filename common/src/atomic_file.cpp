#include "mcip/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "mcip/error.h"

namespace fs = std::filesystem;

namespace mcip {
namespace {

fs::path temp_sibling(const fs::path& path) {
  return path.parent_path() / fmt::format(".{}.tmp.{}", path.filename().string(), ::getpid());
}

void fsync_path(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open for fsync: {}", path.string(), std::strerror(errno)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", path.string(), std::strerror(err)));
}

}  // namespace

void fsync_directory(const fs::path& dir) { fsync_path(dir.empty() ? fs::path(".") : dir, O_RDONLY | O_DIRECTORY); }

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& writer) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  const fs::path tmp = temp_sibling(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw std::runtime_error(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(errno)));
      writer(out);
      out.flush();
      if (!out) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", path.string()));
    }
    fsync_path(tmp, O_RDONLY);
    fs::rename(tmp, path);
    fsync_directory(path.parent_path());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(contents.data(), static_cast<std::streamsize>(contents.size())); });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, "", fs::exists(path) ? "cannot be read" : "no such file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path.string(), 0, "", "read failed");
  return ss.str();
}

}  // namespace mcip
