// Benign episodes built from recorded real exchanges (see recorded_seeds.h).
#include <cctype>

#include <fmt/format.h>

#include "mcip/synth/json_text.h"
#include "mcip/synth/simulator.h"

namespace mcip::synth {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// True when `needle` occurs in `hay` as a whole word run (no letter or digit right before or after).
bool mentions(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return false;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    const bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(hay[at - 1]));
    const size_t end = at + needle.size();
    const bool right = end == hay.size() || !std::isalnum(static_cast<unsigned char>(hay[end]));
    if (left && right) return true;
  }
  return false;
}

// The arguments the user stated: top-level scalar values that the recorded request spells out
// ("add 17 and 25" states a=17 and b=25; a sandbox path the client discovered is not stated).
ojson stated_slots(const ojson& arguments, const std::string& query) {
  ojson slots = ojson::object();
  const std::string q = lower(query);
  for (auto it = arguments.begin(); it != arguments.end(); ++it) {
    const ojson& v = it.value();
    if (!(v.is_string() || v.is_number()) || is_token_name(it.key())) continue;
    const std::string text = lower(plain_text(v));
    if ((v.is_number() || text.size() >= 2) && mentions(q, text)) slots[it.key()] = v;
  }
  return slots;
}

// "Please " + "What's in my notes?" -> "Please what's in my notes?"; a prefix ending a sentence or
// a clause with ':' or '?' keeps the capital.
std::string with_prefix(const std::string& prefix, const std::string& query) {
  if (prefix.empty() || query.size() < 2) return prefix + query;
  const char end = prefix.size() >= 2 ? prefix[prefix.size() - 2] : ' ';
  std::string q = query;
  const bool word_initial = std::isupper(static_cast<unsigned char>(q[0])) && std::islower(static_cast<unsigned char>(q[1]));
  if (end != '?' && end != ':' && end != '.' && end != '!' && word_initial && q.rfind("I ", 0) != 0)
    q[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(q[0])));
  return prefix + q;
}

}  // namespace

Episode Simulator::benign_from_seed(const Seed& seed, Rng& rng, const std::string& forced_role) const {
  const auto& ph = world_.phrasing();
  Episode ep;
  ep.seed = &seed;
  const std::string& server = seed.server->name;
  ep.template_id = fmt::format("{}/{}#recorded:{}", server, seed.calls.front().tool->name, seed.exchange);
  ep.group = ep.template_id;
  ep.split = world_.split_of(server, ep.group);

  bool any_admin = false;
  for (const auto& sc : seed.calls) {
    Request req;
    req.tool = sc.tool;
    req.slots = stated_slots(sc.arguments, seed.query);
    req.text = seed.query;
    ep.requests.push_back(std::move(req));
    any_admin = any_admin || sc.tool->privilege == Privilege::Admin;
  }
  std::string role = draw_role(rng, any_admin);
  if (!forced_role.empty()) role = forced_role;

  std::vector<const Tool*> used;
  for (size_t i = 0; i < seed.calls.size(); ++i) {
    const SeedCall& sc = seed.calls[i];
    Call call;
    call.tool = sc.tool;
    call.server = server;
    call.arguments = sc.arguments;
    call.recorded = sc.result;
    call.is_error = sc.is_error;
    call.structured = sc.result.contains("structuredContent") && sc.result["structuredContent"].is_object() ? sc.result["structuredContent"]
                                                                                                          : ojson(nullptr);
    call.text = result_text(sc.result);
    call.purpose = "requested";
    call.request = static_cast<int>(i);
    ep.calls.push_back(std::move(call));
    used.push_back(sc.tool);
  }
  ep.caller = make_caller(rng, role, used);
  for (auto& c : ep.calls) c.actor = ep.caller;

  connect_servers(ep, used, server, rng);
  set_subject(ep);
  add_chitchat(ep, rng);
  // The recorded request verbatim, framed by an optional courtesy so repeats of one exchange differ.
  ep.turns.push_back({TurnKind::User, with_prefix(rng.pick(ph.request_prefixes), seed.query) + rng.pick(ph.request_suffixes), -1});
  close_turns(ep, rng);
  return ep;
}

}  // namespace mcip::synth
