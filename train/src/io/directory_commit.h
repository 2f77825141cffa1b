// Writing a whole output directory atomically: fill a temporary sibling, fsync it, then rename
// it over the destination (an existing directory is moved aside first and removed last).
#pragma once
#include <filesystem>
#include <functional>

namespace mcip::train::detail {

// Calls `fill(tmp_dir)`; on success `dir` holds exactly what fill wrote. If fill throws, the
// temporary is removed, `dir` is untouched and the exception propagates.
void write_directory_atomic(const std::filesystem::path& dir,
                            const std::function<void(const std::filesystem::path&)>& fill);

}  // namespace mcip::train::detail
