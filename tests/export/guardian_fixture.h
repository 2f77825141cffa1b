// One real trained guardian shared by the export and mcip-guard tests: configs/smoke.yaml on
// the trainer's fixture dataset (seconds), then `mcip-guard export` to all formats. Built once
// per build tree under a file lock (ctest runs every test in its own process, maybe in parallel)
// and rebuilt when the mcip-train or mcip-guard binary changes.
#pragma once
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/test_support.h"
#include "trainer/fixture.h"
#include "mcip/atomic_file.h"

namespace mcip::guard::test {
namespace fs = std::filesystem;

using mcip::test::bin;
using mcip::test::CommandResult;
using mcip::test::quote;
using mcip::test::run_command;

struct TrainedGuardian {
  fs::path root, data, run, final_dir, exported;
};

inline std::string binary_stamp() {
  std::string s;
  for (const char* b : {"mcip-train", "mcip-guard"}) {
    const fs::path p = bin(b);
    s += std::to_string(fs::file_size(p)) + ":" +
         std::to_string(fs::last_write_time(p).time_since_epoch().count()) + ";";
  }
  return s;
}

inline const TrainedGuardian& trained_guardian() {
  static const TrainedGuardian g = [] {
    TrainedGuardian t;
    t.root = fs::path(MCIP_BINARY_DIR) / "test-scratch" / "export";
    t.data = t.root / "data";
    t.run = t.root / "run";
    t.final_dir = t.run / "finetune" / "final";
    t.exported = t.root / "exported";
    fs::create_directories(t.root);
    const int fd = ::open((t.root / "lock").c_str(), O_CREAT | O_RDWR, 0644);
    ::flock(fd, LOCK_EX);
    const fs::path stamp_file = t.root / "stamp";
    const std::string stamp = binary_stamp();
    if (!fs::exists(stamp_file) || mcip::read_file(stamp_file) != stamp || !fs::exists(t.exported / "guardian.json")) {
      fs::remove_all(t.run);
      fs::remove_all(t.exported);
      fs::remove_all(t.data);
      mcip::test::write_fixture_dataset(t.data, 220, 44, 1);
      const auto train = run_command(bin("mcip-train") + " " + quote(fs::path(MCIP_SOURCE_DIR) / "configs" / "smoke.yaml") +
                                     " data.dir=" + quote(t.data) + " output_dir=" + quote(t.run));
      if (train.exit_code != 0) ADD_FAILURE() << "mcip-train failed:\n" << train.output;
      const auto exp = run_command(bin("mcip-guard") + " export " + quote(t.run) + " --out " + quote(t.exported) +
                                   " --gguf-types f32,f16,bf16 --shard-mb 0.02");
      if (exp.exit_code != 0) ADD_FAILURE() << "mcip-guard export failed:\n" << exp.output;
      mcip::write_file_atomic(stamp_file, stamp);
    }
    ::flock(fd, LOCK_UN);
    ::close(fd);
    return t;
  }();
  return g;
}

// A private scratch directory for one test.
inline fs::path scratch(const std::string& name) {
  const fs::path d = fs::path(MCIP_BINARY_DIR) / "test-scratch" / ("export-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace mcip::guard::test
