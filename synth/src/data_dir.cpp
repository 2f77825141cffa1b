#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "mcip/synth/dataset.h"

#ifndef MCIP_SOURCE_DATA_DIR
#define MCIP_SOURCE_DATA_DIR ""
#endif

namespace fs = std::filesystem;

namespace mcip::synth {

std::string default_data_dir() {
  if (const char* env = std::getenv("MCIP_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path bin = exe.parent_path();
    // Build tree: <source>/<build>/bin/mcip-synth -> <source>/data.
    for (const fs::path& cand : {bin / ".." / ".." / "data", bin / ".." / "share" / "mcip"})
      if (fs::is_directory(cand / "catalogs", ec)) return fs::weakly_canonical(cand, ec).string();
  }
  return MCIP_SOURCE_DATA_DIR;
}

}  // namespace mcip::synth
