// Examples built from recorded real exchanges: the factory's seed path. Which mutators and hard
// negatives can transform which recorded exchange is probed once, so a seeded index only draws
// among exchanges its label can use (e.g. identity injection needs a requested admin tool).
#include <cmath>

#include <fmt/format.h>

#include "mcip/synth/example.h"
#include "mcip/taxonomy.h"

namespace mcip::synth {
namespace {

// Separate random streams, so seeding never shifts the draws of simulated examples.
constexpr std::uint64_t kSeedStream = 0x7365656473ULL;  // "seeds"
constexpr std::uint64_t kProbeStream = 0x70726f6265ULL;  // "probe"
constexpr int kProbeTries = 8;
// A label (or hard negative) that fewer recorded exchanges can carry would repeat them: it is
// seeded in proportion, fully from this many exchanges on.
constexpr std::size_t kFullPool = 3;

bool transforms(const Mutator& m, const Seed& seed, const Simulator& sim, std::uint64_t run_seed) {
  // A benign twin that says "the user asked for two things" needs a two-call request.
  if (m.id == "requested_multi_call" && seed.calls.size() != 2) return false;
  for (int k = 0; k < kProbeTries; ++k) {
    Rng rng(run_seed ^ kProbeStream, seed.index, static_cast<std::uint64_t>(k));
    Episode ep = sim.benign_from_seed(seed, rng, m.caller_role);
    if (m.applies(ep, sim) && m.apply(ep, sim, rng)) return true;
  }
  return false;
}

}  // namespace

void ExampleFactory::probe_seeds() {
  const auto& seeds = world_.seeds().seeds();
  if (seeds.empty() || world_.config().recorded_share <= 0) return;
  std::vector<std::size_t>& plain = seed_pools_[""];
  for (const auto& s : seeds) plain.push_back(s.index);
  for (const auto* list : {&mutators(), &hard_negatives()})
    for (const auto& m : *list) {
      std::vector<std::size_t>& pool = seed_pools_[m.id];
      for (const auto& s : seeds)
        if (transforms(m, s, sim_, world_.config().seed)) pool.push_back(s.index);
    }
}

const std::vector<std::size_t>& ExampleFactory::seeds_for(const std::string& label_id) const {
  static const std::vector<std::size_t> none;
  auto it = seed_pools_.find(label_id);
  return it == seed_pools_.end() ? none : it->second;
}

bool ExampleFactory::seeded_index(std::uint64_t index) const {
  const double share = world_.config().recorded_share;
  if (share <= 0 || world_.seeds().empty()) return false;
  // Weyl sequence with step sqrt(2)-1: independent of the label sequence (golden ratio), so
  // seeded indices spread evenly over labels, and every prefix or shard gets its share.
  const double step = 0.41421356237309503;
  const double offset = static_cast<double>(mix64(world_.config().seed ^ kSeedStream) >> 11) * 0x1.0p-53;
  return std::fmod(offset + static_cast<double>(index) * step, 1.0) < share;
}

std::optional<Example> ExampleFactory::make_seeded(std::uint64_t index, int resample, bool keys_only, std::string& why) const {
  const auto& cfg = world_.config();
  const auto& seeds = world_.seeds().seeds();
  const taxonomy::Label& label = tax_.label_at(label_for_index(index));
  const Mutator* m = label.safe() ? nullptr : find_mutator(label.id);
  const std::vector<std::size_t>& pool = seeds_for(label.safe() ? "" : label.id);
  if (pool.empty()) {
    why = fmt::format("{}: no recorded exchange meets the mutator's preconditions", label.id);
    return std::nullopt;
  }
  if (pool.size() < kFullPool) {
    Rng gate(cfg.seed ^ kSeedStream, index, 0, kProbeStream);
    if (!gate.chance(static_cast<double>(pool.size()) / static_cast<double>(kFullPool))) {
      why = fmt::format("{}: only {} recorded exchange(s) can carry it, so it is seeded at {}/{} of the share", label.id,
                        pool.size(), pool.size(), kFullPool);
      return std::nullopt;
    }
  }
  // Hard negatives that enough recorded exchanges support.
  std::vector<const Mutator*> negatives;
  if (label.safe())
    for (const auto& hn : hard_negatives())
      if (seeds_for(hn.id).size() >= kFullPool) negatives.push_back(&hn);
  const int first = resample * cfg.max_attempts;
  for (int attempt = first; attempt < first + cfg.max_attempts; ++attempt) {
    Rng rng(cfg.seed, index, static_cast<std::uint64_t>(attempt), kSeedStream);
    const Mutator* hn = label.safe() && !negatives.empty() && rng.chance(cfg.hard_negative_share) ? rng.pick(negatives) : nullptr;
    const Mutator* mut = m ? m : hn;
    const std::vector<std::size_t>& from = hn ? seeds_for(hn->id) : pool;
    const Seed& seed = seeds[from[rng.below(from.size())]];
    Episode src = sim_.benign_from_seed(seed, rng, mut ? mut->caller_role : "");
    if (!mut) return render(src, nullptr, label, benign_rationale(src), "", index, attempt, keys_only);
    if (!mut->applies(src, sim_)) continue;
    auto mutation = mut->apply(src, sim_, rng);
    if (!mutation) continue;
    if (hn) mutation->episode.hard_negative = hn->id;
    return render(mutation->episode, &src, label, mutation->rationale, mutation->variant, index, attempt, keys_only);
  }
  why = fmt::format("{}: no recorded exchange took the mutation in {} attempts", label.id, cfg.max_attempts);
  return std::nullopt;
}

}  // namespace mcip::synth
