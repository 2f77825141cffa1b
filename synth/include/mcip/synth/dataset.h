// Dataset runs: generate (streaming, TBB pipeline, in-order commit for dedup and output),
// validate an output folder, print its statistics. Outputs appear only when complete.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "mcip/synth/config.h"

namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::synth {

struct RunOverrides {
  std::string config_file;
  std::optional<std::uint64_t> count, seed;
  std::optional<int> threads;
  std::uint64_t shard_index = 0, shard_count = 1;
};

struct RunSummary {
  std::uint64_t written = 0, dropped = 0;
  double seconds = 0;
  std::uint64_t bytes = 0;
  // Thread CPU seconds spent in each pipeline stage, summed over threads: `generate` runs in
  // parallel, `commit` (in-order dedup decision and counters) and `write` (append and file hash)
  // are serial. Their ratio bounds the speedup more threads can give.
  double generate_cpu_seconds = 0, commit_cpu_seconds = 0, write_cpu_seconds = 0;
};

// Everything a run needs, loaded and validated up front (so bad input fails before any output).
class SynthRun {
 public:
  explicit SynthRun(const RunOverrides& o);
  ~SynthRun();
  // Writes the dataset into `out` (temp folder + rename). With `out` empty, generates without
  // writing (benchmarks). `log` receives progress lines.
  RunSummary generate(const std::filesystem::path& out, std::ostream* log) const;
  const SynthConfig& config() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
  RunOverrides o_;
};

// Parses "i/N" (0 <= i < N). Throws InputError.
std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& spec);

// Re-checks a dataset folder; prints problems to `out` and returns their number.
std::size_t validate_dataset(const std::filesystem::path& dir, std::ostream& out);
// Record-level checks (schema, label consistency, JSON-RPC well-formedness); empty when valid.
std::vector<std::string> check_record(const nlohmann::json& record, const taxonomy::Taxonomy& tax);
// Prints the label x split table and layer/hard-negative counts from the manifest.
void print_stats(const std::filesystem::path& dir, std::ostream& out);

// The data folder holding catalogs/ (see configs/synth.yaml ${MCIP_DATA}).
std::string default_data_dir();

}  // namespace mcip::synth
