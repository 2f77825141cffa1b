// mcip-pipeline: the scheduled refresh job. It composes the project's own binaries as
// stages declared in YAML (harvest → synth → validate → tokenize → train → eval → export),
// caches each stage's output under the hash of its inputs, publishes releases atomically
// behind a regression gate, and keeps a bounded history.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mcip::pipeline {

// Exit codes a scheduler can act on (systemd, cron, Kubernetes).
enum RefreshExit : int {
  kRefreshOk = 0,         // published a new release, or nothing changed
  kRefreshFailed = 1,     // a stage or the publish step failed; `latest` untouched
  kRefreshBadInput = 2,   // config invalid
  kRefreshRejected = 3,   // the regression gate kept the new guardian out of `latest`
  kRefreshBusy = 75,      // another refresh holds the lock (EX_TEMPFAIL: retry later)
};

struct StageSpec {
  std::string name;
  bool enabled = true;
  std::vector<std::string> run;     // argv template; placeholders: see configs/README.md
  std::vector<std::string> inputs;  // files/dirs whose content enters the cache key
  std::vector<std::string> after;   // upstream stages whose outputs enter the cache key
  std::map<std::string, std::string> env;
  int timeout_s = 0;                // 0 = no limit (per process for sharded stages)
  // Sharded stages: `run` is started `shards` times as parallel processes ({shard} = 0..N-1,
  // {shards} = N, {out} = that shard's folder), at most `max_parallel` at once (0 = all); then
  // `merge` runs once with {shard_outs} (the shard folders in index order, as separate
  // arguments) and {out} = the stage's output.
  int shards = 0;                   // 0 = not sharded
  int max_parallel = 0;
  std::vector<std::string> merge;
};

struct PublishItem {
  std::string from;  // template, e.g. "{synth.out}/manifest.json"
  std::string to;    // path inside the release
};

struct GateSpec {
  std::string metrics;                 // path inside the release of the metrics JSON
  std::vector<std::string> keys;       // dotted keys compared (higher is better)
  double max_drop = 0.0;               // allowed absolute drop per key versus latest
};

struct RefreshConfig {
  std::string origin;                  // config file path
  std::filesystem::path base_dir;      // relative paths resolve against this (the config's dir)
  std::string name;
  std::filesystem::path releases_dir;
  std::filesystem::path work_dir;
  int keep_releases = 5;
  long long min_free_mb = 256;
  std::map<std::string, std::string> vars;
  std::vector<StageSpec> stages;
  std::vector<PublishItem> publish;
  GateSpec gate;
};

// Parses and validates; throws InputError naming file, line and key.
RefreshConfig load_refresh_config(const std::string& path);

struct RefreshOptions {
  std::vector<std::string> force;      // stage names to rerun even when cached ("all" for every stage)
  std::string version;                 // release name; default: UTC timestamp + content hash prefix
  std::filesystem::path bin_dir;       // where mcip binaries live ({bin}); default: next to this executable
};

// Runs a refresh; returns one of RefreshExit. Writes the JSON run report to
// <releases_dir>/runs/<run id>.json and prints a summary to stderr.
int refresh(const RefreshConfig& config, const RefreshOptions& options);

// Re-hashes a release's files against its release.json; returns the problems found.
std::vector<std::string> verify_release(const std::filesystem::path& release_dir);

// Locates a sibling mcip binary (same directory as the running executable first, then PATH).
// Throws std::runtime_error naming the binary and the places searched.
std::filesystem::path find_tool(const std::string& name);

}  // namespace mcip::pipeline
