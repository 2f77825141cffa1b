// Releases: data/releases/<version>/ holding what the config publishes plus release.json
// (file hashes, stage keys, gate decision). `latest` is a symlink switched atomically.
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mcip::pipeline {

struct GateSpec;

struct GateDecision {
  bool accepted = true;
  std::string reason;          // why rejected, or what it compared
  nlohmann::json comparison;   // per key: new, latest, drop
};

// Compares new metrics with the current latest's; missing keys in the new metrics reject.
GateDecision apply_gate(const GateSpec& gate, const nlohmann::json& new_metrics, const nlohmann::json* latest_metrics);

// Reads a dotted key ("validation.rr_acc") from a JSON object.
std::optional<double> metric_at(const nlohmann::json& metrics, const std::string& dotted);

// The release `latest` points to, if any.
std::optional<std::filesystem::path> latest_release(const std::filesystem::path& releases_dir);

// Points `latest` at `version` atomically (symlink to a temporary name, then rename).
void switch_latest(const std::filesystem::path& releases_dir, const std::string& version);

// Deletes the oldest releases beyond `keep`, never `latest`'s target, a PINNED release, or one
// some process holds open (shared flock on <release>/.inuse). Returns the deleted names.
std::vector<std::string> apply_retention(const std::filesystem::path& releases_dir, int keep);

}  // namespace mcip::pipeline
