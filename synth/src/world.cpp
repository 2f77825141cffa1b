#include <algorithm>
#include <cmath>

#include "mcip/hash.h"
#include "mcip/synth/simulator.h"

namespace mcip::synth {

World::World(Catalog catalog, ValuePools pools, Phrasing phrasing, SynthConfig config)
    : catalog_(std::move(catalog)), pools_(std::move(pools)), phrasing_(std::move(phrasing)), config_(std::move(config)) {
  pools_.prepare(catalog_.property_names());
  // Hold out whole servers for test_unseen_tools, chosen by a seeded hash of their names so
  // the choice is stable under catalog reordering.
  auto& servers = catalog_.servers();
  std::vector<std::pair<std::uint64_t, size_t>> order;
  for (size_t i = 0; i < servers.size(); ++i) order.emplace_back(hash64(servers[i].name, config_.seed ^ 0x756e7365656eULL), i);
  std::sort(order.begin(), order.end());
  size_t n = static_cast<size_t>(std::llround(config_.unseen_server_share * static_cast<double>(servers.size())));
  if (config_.unseen_server_share > 0 && n == 0 && servers.size() >= 3) n = 1;
  if (n >= servers.size()) n = servers.size() > 1 ? servers.size() - 1 : 0;
  for (size_t k = 0; k < n; ++k) servers[order[k].second].held_out = true;
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
