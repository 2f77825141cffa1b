// One refresh at a time per releases directory. flock() is released by the kernel when a
// process dies, so a crashed run never blocks the next; the pid written into the file lets
// us tell the user which run holds the lock, or that a dead one left it behind.
#pragma once
#include <filesystem>
#include <string>

namespace mcip::pipeline {

class RunLock {
 public:
  // Returns a held lock, or throws LockBusy naming the holder.
  static RunLock acquire(const std::filesystem::path& file);
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();
  // Non-empty when the previous holder died without releasing: "pid 123 (started ...)".
  const std::string& recovered_from() const { return recovered_from_; }

 private:
  RunLock(int fd, std::string recovered) : fd_(fd), recovered_from_(std::move(recovered)) {}
  int fd_ = -1;
  std::string recovered_from_;
};

struct LockBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace mcip::pipeline
