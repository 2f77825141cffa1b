// The synthesizer configuration: embedded defaults (configs/synth.yaml) merged with an
// optional user file, validated key by key, then overridden by command-line flags.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mcip/synth/document.h"

namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::synth {

struct EpisodeOptions {
  int min_tools_offered = 2, max_tools_offered = 6;
  double multi_server = 0.35, multi_request = 0.25, chitchat = 0.3, optional_args = 0.5, tool_error = 0.04,
         plain_text_results = 0.5, error_recovery = 0.5;
};

struct NearDupOptions {
  bool enabled = true;
  int shingle = 5, hashes = 64, bands = 8;
  double threshold = 0.8;
  std::uint64_t index_cap = 100000;
  bool drop_cross_split = true;
};

struct SynthConfig {
  std::uint64_t seed = 7;
  std::uint64_t count = 60000;
  int threads = 0;
  std::string protocol_version = "2025-11-25";
  std::vector<std::string> catalogs;  // as written (with ${MCIP_DATA})
  std::vector<std::string> recorded_trace_files;  // as written (with ${MCIP_DATA})
  double recorded_share = 0.03;                   // of example indices built from recorded exchanges
  std::string value_pools_file, phrasing_file, prompt_template_file;
  std::vector<double> label_weights;  // per taxonomy label index; filled by resolve_labels()
  ojson label_weight_spec;            // as written
  std::string balance = "balanced";
  double hard_negative_share = 0.4;
  double validation_share = 0.1, test_share = 0.1, unseen_server_share = 0.1;
  std::string unseen_from = "any";  // servers eligible for test_unseen_tools: any | harvested (real servers only)
  EpisodeOptions episode;
  int max_attempts = 24;
  bool exact_dedup = true;
  int max_resamples = 8;
  NearDupOptions near;
  ojson effective;  // the merged configuration, recorded in the manifest

  // Turns the label weights into one weight per taxonomy label; throws InputError on unknown labels.
  void resolve_labels(const taxonomy::Taxonomy& tax, const std::string& origin);
};

// Loads defaults and merges `file` (empty = defaults only). Throws InputError naming file, line, key.
SynthConfig load_config(const std::string& file);
std::string_view embedded_default_config();

}  // namespace mcip::synth
