// mcip-pipeline: composes the mcip binaries into the scheduled dataset-refresh job.
#pragma once
#include <filesystem>
#include <string>

namespace mcip::pipeline {

// Locates a sibling mcip binary (same directory as the running executable first, then PATH).
// Throws std::runtime_error naming the binary and the places searched.
std::filesystem::path find_tool(const std::string& name);

}  // namespace mcip::pipeline
