// Mutators turn a benign episode into an unsafe one for one MCIP label, following the
// taxonomy's definition; hard negatives turn it into a benign twin that looks like an attack.
// Each says whether it applies and returns the edited episode with a factual rationale.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mcip/synth/simulator.h"

namespace mcip::synth {

struct Mutation {
  Episode episode;
  std::string rationale;  // one line built from the facts of this episode
  std::string variant;    // which form of the attack (or hard negative) was used
};

struct Mutator {
  std::string id;           // taxonomy label id (mutators) or hard-negative kind
  std::string caller_role;  // role the benign source must have ("" = any)
  bool multi_request = false;  // the benign source needs two requests
  // Preferred primary tools: sampling from these makes `applies` likely.
  std::function<bool(const Tool&)> wants;
  std::function<bool(const Episode&, const Simulator&)> applies;
  std::function<std::optional<Mutation>(const Episode&, const Simulator&, Rng&)> apply;
};

// The ten unsafe-label mutators, keyed by taxonomy label id.
const std::vector<Mutator>& mutators();
const Mutator* find_mutator(const std::string& label_id);
// Benign twins (label "appropriate").
const std::vector<Mutator>& hard_negatives();

// Shared pieces used by several mutators.
namespace mutate {
std::string lookalike_name(const std::string& name, Rng& rng);
std::string impostor_server_name(const std::string& server, Rng& rng);
// A synthetic copy of `t` (same name unless renamed) that the episode owns.
std::shared_ptr<Tool> clone_tool(const Tool& t);
// Replaces `from` by `to` in the session lists and in calls.
void swap_tool(Episode& ep, const Tool* from, const Tool* to);
// A value for `key` different from `old` under `schema`.
ojson different_value(const ojson& schema, const std::string& key, const ojson& old, const Simulator& sim, Rng& rng);
std::string first_fact(const Call& c);  // "balance 1200" from a result, or ""
}  // namespace mutate

}  // namespace mcip::synth
