// One dataset example: label choice, benign episode, mutation or hard negative, renderings,
// and the JSONL record, all derived from (seed, index, attempt) alone.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mcip/synth/mutators.h"
#include "mcip/synth/render.h"

namespace mcip::taxonomy {
class Taxonomy;
struct Label;
}

namespace mcip::synth {

struct Example {
  std::uint64_t index = 0;
  int attempt = 0;
  int label = 0;           // taxonomy label index actually produced
  int target_label = 0;    // label the balance asked for
  std::string split, group, hard_negative, variant, unreachable;  // unreachable: why target != label
  std::vector<std::string> servers;  // every server in the episode (tools/list included)
  std::string record;      // one JSON object, no trailing newline
  std::uint64_t exact_hash = 0;
  std::string chat;        // normalized chat text, for near-duplicate signatures
  std::string seed;        // "<trace file>#<exchange id>" when built from a recorded real exchange
  std::string seed_miss;   // why an index chosen for a recorded seed was simulated instead
};

class ExampleFactory {
 public:
  ExampleFactory(const World& world, const taxonomy::Taxonomy& tax, const PromptTemplate& prompt);
  // Deterministic in (config seed, index, resample). `keys_only` skips building the record and
  // keeps what dedup needs (split, hashes, chat): shards replay earlier indices this way.
  Example make(std::uint64_t index, int resample = 0, bool keys_only = false) const;
  int label_for_index(std::uint64_t index) const;
  // Whether index `index` is built from a recorded exchange (recorded_traces.share of indices,
  // spread evenly by a Weyl sequence independent of the label sequence).
  bool seeded_index(std::uint64_t index) const;
  // Recorded exchanges (indices into World::seeds()) that `label_id`'s mutator or hard negative
  // transformed in a probe at construction; "" = plain benign (label A).
  const std::vector<std::size_t>& seeds_for(const std::string& label_id) const;
  const Simulator& simulator() const { return sim_; }

  // Builds the record of an episode (exposed for tests and validation of benign sources).
  Example render(const Episode& ep, const Episode* source, const taxonomy::Label& label, const std::string& rationale,
                 const std::string& variant, std::uint64_t index, int attempt, bool keys_only = false) const;

 private:
  const Tool* pick_primary(const Mutator* m, Rng& rng) const;
  Example make_simulated(std::uint64_t index, int resample, bool keys_only) const;
  // An example built from a recorded seed, or nullopt with `why` when no seed could carry the label.
  std::optional<Example> make_seeded(std::uint64_t index, int resample, bool keys_only, std::string& why) const;
  void probe_seeds();
  const World& world_;
  const taxonomy::Taxonomy& tax_;
  const PromptTemplate& prompt_;
  Simulator sim_;
  std::vector<double> cumulative_;  // label weights, cumulative
  std::vector<std::vector<const Tool*>> mutator_tools_, negative_tools_;
  std::map<std::string, std::vector<std::size_t>> seed_pools_;  // label or hard-negative id -> seeds
};

std::string benign_rationale(const Episode& ep);
// Exact-duplicate key of a rendering: hash of the normalized chat seeded by the normalized system text.
std::uint64_t exact_hash(std::string_view normalized_system, std::string_view normalized_chat);

}  // namespace mcip::synth
