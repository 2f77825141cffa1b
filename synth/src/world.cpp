#include <algorithm>
#include <array>
#include <cmath>

#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/synth/rng.h"
#include "mcip/synth/simulator.h"

namespace mcip::synth {

World::World(Catalog catalog, ValuePools pools, Phrasing phrasing, SynthConfig config)
    : catalog_(std::move(catalog)), pools_(std::move(pools)), phrasing_(std::move(phrasing)), config_(std::move(config)) {
  pools_.prepare(catalog_.property_names());
  // Hold out whole servers for test_unseen_tools. Among seeded random choices of n servers, keep
  // the one whose share of each kind of mutator material (prerequisites, admin tools, state
  // changes, output schemas) is closest to its share of all tools, so no label piles up there.
  // With splits.unseen_from = harvested only real (harvested) servers are candidates, so the
  // unseen-tools test measures generalisation to tools nobody wrote for the synthesizer.
  auto& servers = catalog_.servers();
  std::vector<size_t> candidates;
  for (size_t i = 0; i < servers.size(); ++i)
    if (config_.unseen_from == "any" || servers[i].source == "harvested") candidates.push_back(i);
  size_t n = static_cast<size_t>(std::llround(config_.unseen_server_share * static_cast<double>(servers.size())));
  if (config_.unseen_server_share > 0 && n == 0 && servers.size() >= 3) n = 1;
  if (n >= servers.size()) n = servers.size() > 1 ? servers.size() - 1 : 0;
  if (n > 0 && candidates.empty())
    throw InputError("", 0, "splits.unseen_from", "is 'harvested' but no catalog with source: harvested is loaded");
  n = std::min(n, candidates.size());
  auto features = [](const Tool& t) {
    return std::array<int, 4>{!t.requires.empty(), t.privilege == Privilege::Admin, !t.read_only, t.output_schema.is_object()};
  };
  std::array<double, 4> total_f{};
  double total = 0;
  for (const auto& s : servers)
    for (const auto& t : s.tools) {
      const auto f = features(t);
      for (size_t k = 0; k < 4; ++k) total_f[k] += f[k];
      total += 1;
    }
  std::vector<size_t> best;
  double best_score = 1e300;
  for (std::uint64_t trial = 0; trial < 64 && n > 0; ++trial) {
    std::vector<std::pair<std::uint64_t, size_t>> order;
    for (size_t i : candidates)
      order.emplace_back(hash64(servers[i].name, config_.seed ^ 0x756e7365656eULL ^ mix64(trial)), i);
    std::sort(order.begin(), order.end());
    std::array<double, 4> held_f{};
    double held = 0;
    std::vector<size_t> pick;
    for (size_t k = 0; k < n; ++k) {
      pick.push_back(order[k].second);
      for (const auto& t : servers[order[k].second].tools) {
        const auto f = features(t);
        for (size_t j = 0; j < 4; ++j) held_f[j] += f[j];
        held += 1;
      }
    }
    const double share = held / total;
    // Also stay near the configured share of tools, so small one-tool servers are not favoured.
    double score = 2 * std::fabs(share - config_.unseen_server_share);
    for (size_t j = 0; j < 4; ++j)
      if (total_f[j] > 0) score += std::fabs(held_f[j] / total_f[j] - share);
    if (score < best_score) {
      best_score = score;
      best = pick;
    }
  }
  for (size_t i : best) servers[i].held_out = true;
  for (const auto& s : servers)
    for (const auto& t : s.tools) tools_.push_back(&t);
}

const Server& World::server_of(const Tool& t) const {
  const Server* s = catalog_.server(t.server);
  if (!s) throw std::logic_error("tool " + t.name + " has no catalog server");
  return *s;
}

bool World::held_out(const std::string& server) const {
  const Server* s = catalog_.server(server);
  return s && s->held_out;
}

std::string World::split_of(const std::string& server, const std::string& group) const {
  if (held_out(server)) return "test_unseen_tools";
  const double u = static_cast<double>(hash64(group, config_.seed ^ 0x73706c6974ULL) >> 11) * 0x1.0p-53;
  if (u < config_.validation_share) return "validation";
  if (u < config_.validation_share + config_.test_share) return "test";
  return "train";
}

bool World::usable_in(const Tool& t, const std::string& split) const {
  return split == "test_unseen_tools" || !held_out(t.server);
}

}  // namespace mcip::synth
