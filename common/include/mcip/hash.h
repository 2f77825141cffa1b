// Content hashes used for provenance (taxonomy, catalog, dataset and cache keys).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mcip {

// 64-bit XXH3 of the bytes.
std::uint64_t hash64(std::string_view bytes, std::uint64_t seed = 0);
// 128-bit XXH3 rendered as 32 lowercase hex digits: the form written into manifests.
std::string hash_hex(std::string_view bytes);

// Streaming 128-bit XXH3 of a file's bytes (32 hex digits). Throws InputError naming the file.
std::string hash_file_hex(const std::string& path);

}  // namespace mcip
