// Content identity of files and directory trees, for cache keys and release integrity.
#pragma once
#include <filesystem>
#include <map>
#include <string>

namespace mcip::pipeline {

// relative path -> XXH3-128 of its bytes, for every regular file below root (or root itself).
std::map<std::string, std::string> file_hashes(const std::filesystem::path& root);

// One hash over names and contents; a missing path hashes as "missing" so its appearance
// later still changes the key.
std::string tree_hash(const std::filesystem::path& root);

}  // namespace mcip::pipeline
