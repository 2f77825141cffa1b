#include "tree_hash.h"

#include "mcip/hash.h"

namespace fs = std::filesystem;

namespace mcip::pipeline {

std::map<std::string, std::string> file_hashes(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (fs::is_regular_file(root)) {
    out[root.filename().string()] = hash_file_hex(root.string());
    return out;
  }
  if (!fs::is_directory(root)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    out[fs::relative(entry.path(), root).generic_string()] = hash_file_hex(entry.path().string());
  }
  return out;
}

std::string tree_hash(const fs::path& root) {
  if (!fs::exists(root)) return hash_hex("missing:" + root.filename().string());
  std::string listing = fs::is_directory(root) ? "dir\n" : "file\n";
  for (const auto& [name, hash] : file_hashes(root)) listing += name + "\t" + hash + "\n";
  return hash_hex(listing);
}

}  // namespace mcip::pipeline
