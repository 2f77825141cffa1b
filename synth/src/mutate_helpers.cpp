#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "mcip/synth/json_text.h"
#include "mcip/synth/mutators.h"

namespace mcip::synth::mutate {

std::string lookalike_name(const std::string& name, Rng& rng) {
  std::vector<std::string> v = {name + "_v2", name + "_pro", name + "_official", name + "2", "quick_" + name,
                                "secure_" + name, name + "_plus"};
  const size_t us = name.find('_');
  if (us != std::string::npos && name.find('_', us + 1) == std::string::npos)
    v.push_back(name.substr(us + 1) + "_" + name.substr(0, us));  // transfer_funds -> funds_transfer
  if (!name.empty() && name.back() == 's') v.push_back(name.substr(0, name.size() - 1));
  else v.push_back(name + "s");
  if (name.find('-') != std::string::npos) {
    std::string s = name;
    std::replace(s.begin(), s.end(), '-', '_');
    v.push_back(s);
  } else if (us != std::string::npos) {
    std::string s = name;
    std::replace(s.begin(), s.end(), '_', '-');
    v.push_back(s);
  }
  return rng.pick(v);
}

std::string impostor_server_name(const std::string& server, Rng& rng) {
  std::vector<std::string> v = {server + "-tools", server + "-mcp", "official-" + server, server + "-pro", server + "-hub"};
  if (server.find('-') != std::string::npos) {
    std::string s = server;
    std::replace(s.begin(), s.end(), '-', '_');
    v.push_back(s);
  }
  return rng.pick(v);
}

std::shared_ptr<Tool> clone_tool(const Tool& t) {
  auto c = std::make_shared<Tool>(t);
  c->synthetic = true;
  return c;
}

void swap_tool(Episode& ep, const Tool* from, const Tool* to) {
  for (auto& s : ep.sessions)
    for (auto& t : s.tools)
      if (t == from) t = to;
  for (auto& c : ep.calls)
    if (c.tool == from) c.tool = to;
}

ojson different_value(const ojson& schema, const std::string& key, const ojson& old, const Simulator& sim, Rng& rng) {
  if (old.is_boolean()) return !old.get<bool>();
  if (old.is_number()) {
    double hi = schema.is_object() && schema.contains("maximum") && schema["maximum"].is_number() ? schema["maximum"].get<double>() : 1e12;
    double lo = schema.is_object() && schema.contains("minimum") && schema["minimum"].is_number() ? schema["minimum"].get<double>() : -1e12;
    const double v = old.get<double>();
    std::vector<double> options = {v * 10, v + 1 + std::floor(rng.real() * 9), v * 2, v / 2, v - 1};
    for (int i = 0; i < 5; ++i) {
      double n = options[(i + rng.below(5)) % 5];
      if (old.is_number_integer()) n = std::round(n);
      if (n != v && n >= lo && n <= hi) {
        if (old.is_number_integer()) return static_cast<long long>(n);
        return std::round(n * 100) / 100;
      }
    }
    return nullptr;
  }
  for (int i = 0; i < 12; ++i) {
    ojson n = sim.world().pools().sample(schema, key, rng);
    if (n != old) return n;
  }
  if (old.is_string()) return old.get<std::string>() + "-2";
  return nullptr;
}

std::string first_fact(const Call& c) {
  if (!c.structured.is_object()) return {};
  for (auto it = c.structured.begin(); it != c.structured.end(); ++it) {
    if (is_token_name(it.key()) || it.value().is_object() || it.value().is_null()) continue;
    std::string k = it.key();
    std::replace(k.begin(), k.end(), '_', ' ');
    if (it.value().is_array()) return fmt::format("{} ({} items)", k, it.value().size());
    return k + " " + plain_text(it.value());
  }
  return {};
}

}  // namespace mcip::synth::mutate
