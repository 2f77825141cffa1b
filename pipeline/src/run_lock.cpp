#include "run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace mcip::pipeline {
namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

RunLock RunLock::acquire(const std::filesystem::path& file) {
  std::filesystem::create_directories(file.parent_path());
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open lock file: {}", file.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = read_all(fd);
    ::close(fd);
    throw LockBusy(fmt::format("another refresh is running ({}; lock {}); try again when it has finished",
                               holder.empty() ? "holder unknown" : holder, file.string()));
  }
  // We hold the lock, so no live process does. A leftover record therefore means the
  // previous holder died mid-run (a clean exit clears it).
  std::string recovered = read_all(fd);
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::string record = fmt::format("pid {} started {}\n", ::getpid(), when);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, record.data(), record.size(), 0) < 0) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: cannot write lock record: {}", file.string(), std::strerror(errno)));
  }
  return RunLock(fd, recovered);
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_), recovered_from_(std::move(other.recovered_from_)) {
  other.fd_ = -1;
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // Clearing the record marks a clean exit; the kernel drops the flock with the fd.
  if (::ftruncate(fd_, 0) != 0) {
  }
  ::close(fd_);
}

}  // namespace mcip::pipeline
