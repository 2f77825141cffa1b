// Writing outputs so that readers never see half-written files: write to a temporary
// sibling, fsync, then rename over the destination.
#pragma once
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace mcip {

// Writes `contents` to `path` atomically. Throws std::runtime_error naming the path on failure;
// the destination is then untouched and no temporary is left behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// Streams into a temporary file through `writer`, then commits it to `path` atomically.
// If `writer` throws, the temporary is removed and the exception propagates.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& writer);

// Reads a whole file; throws InputError naming the file if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// fsyncs a directory so a completed rename inside it survives a crash.
void fsync_directory(const std::filesystem::path& dir);

}  // namespace mcip
