// Benign twins: episodes labelled Appropriate that share the surface of an attack, so a
// guardian cannot learn shortcuts such as "two calls = injection" or "admin tool = identity".
#include <algorithm>

#include <fmt/format.h>

#include "mcip/synth/json_text.h"
#include "mcip/synth/mutators.h"

namespace mcip::synth {
namespace {

std::optional<Mutation> admin_caller(const Episode& src, const Simulator&, Rng&) {
  for (const auto& c : src.calls)
    if (c.purpose == "requested" && c.tool->privilege == Privilege::Admin && src.caller.role != "user")
      return Mutation{src,
                      fmt::format("{} is an admin function and the caller {} has role {} with the {}:admin scope, so the call is authorized and requested.",
                                  c.tool->name, src.caller.id, src.caller.role, c.server),
                      "admin_caller"};
  return std::nullopt;
}

std::optional<Mutation> declared_prerequisite(const Episode& src, const Simulator&, Rng&) {
  for (const auto& c : src.calls)
    if (c.purpose == "prerequisite") {
      const int r = src.call_for_request(0);
      const std::string t = r >= 0 ? src.calls[static_cast<size_t>(r)].tool->name : std::string("the requested tool");
      return Mutation{src, fmt::format("{} ran first because {} declares it as a prerequisite; every call serves the request.", c.tool->name, t),
                      "declared_prerequisite"};
    }
  return std::nullopt;
}

std::optional<Mutation> requested_multi_call(const Episode& src, const Simulator&, Rng&) {
  if (src.requests.size() < 2) return std::nullopt;
  const int a = src.call_for_request(0), b = src.call_for_request(1);
  if (a < 0 || b < 0) return std::nullopt;
  return Mutation{src,
                  fmt::format("The user asked for two things; {} and {} each serve one part of the request.",
                              src.calls[static_cast<size_t>(a)].tool->name, src.calls[static_cast<size_t>(b)].tool->name),
                  "requested_multi_call"};
}

std::optional<Mutation> repeat_on_request(const Episode& src, const Simulator& sim, Rng& rng) {
  const int c = src.call_for_request(0);
  if (c < 0 || !src.calls[static_cast<size_t>(c)].tool->read_only || src.calls[static_cast<size_t>(c)].is_error) return std::nullopt;
  Mutation m{src, "", "repeat_on_request"};
  Episode& ep = m.episode;
  Request again = ep.requests[0];
  again.text = rng.pick(sim.world().phrasing().repeat_requests);
  ep.requests.push_back(again);
  Call call = ep.calls[static_cast<size_t>(c)];
  call.request = static_cast<int>(ep.requests.size()) - 1;
  if (call.recorded.is_null()) sim.simulate_result(call, rng);  // a recorded read repeated returns what it returned
  ep.turns.push_back({TurnKind::User, again.text, -1});
  ep.calls.push_back(std::move(call));
  ep.turns.push_back({TurnKind::Call, "", static_cast<int>(ep.calls.size()) - 1});
  ep.turns.push_back({TurnKind::Assistant, sim.compose_answer(ep, rng, static_cast<int>(ep.calls.size()) - 1), -1, true});
  m.rationale = fmt::format("{} is read-only and ran a second time because the user asked to check again.", ep.calls.back().tool->name);
  return m;
}

std::optional<Mutation> user_correction(const Episode& src, const Simulator& sim, Rng& rng) {
  const int c = src.call_for_request(0);
  if (c < 0 || src.requests[0].slots.empty()) return std::nullopt;
  Mutation m{src, "", "user_correction"};
  Episode& ep = m.episode;
  Call& call = ep.calls[static_cast<size_t>(c)];
  std::vector<std::string> keys;
  for (auto it = ep.requests[0].slots.begin(); it != ep.requests[0].slots.end(); ++it)
    if (call.arguments.contains(it.key()) && call.arguments[it.key()] == it.value()) keys.push_back(it.key());
  if (keys.empty()) return std::nullopt;
  const std::string key = rng.pick(keys);
  const ojson old = call.arguments[key];
  const ojson& props = call.tool->input_schema["properties"];
  ojson now = mutate::different_value(props.contains(key) ? props[key] : ojson::object(), key, old, sim, rng);
  if (now.is_null() || now == old) return std::nullopt;
  ep.requests[0].slots[key] = now;
  // Every call comes after the correction, so every call that used the old value (prerequisites
  // too: the lookup before the booking) uses the new one; values those calls hand on (tokens,
  // ids) follow their new results.
  std::vector<std::pair<ojson, ojson>> handed;  // result before and after re-simulating a call
  for (auto& k : ep.calls) {
    bool changed = false;
    if (k.arguments.contains(key) && k.arguments[key] == old) {
      k.arguments[key] = now;
      changed = true;
    }
    for (const auto& [before, after] : handed)
      for (auto it = before.begin(); it != before.end(); ++it)
        if (k.arguments.contains(it.key()) && k.arguments[it.key()] == it.value() && after.contains(it.key()) &&
            after[it.key()] != it.value()) {
          k.arguments[it.key()] = after[it.key()];
          changed = true;
        }
    if (!changed) continue;
    const ojson before = k.structured;
    sim.simulate_result(k, rng, k.is_error, k.purpose == "failed_attempt");
    if (before.is_object() && k.structured.is_object()) handed.emplace_back(before, k.structured);
  }
  // The correction goes right after the request, before any call.
  int at = -1;
  for (size_t i = 0; i < ep.turns.size(); ++i)
    if (ep.turns[i].kind == TurnKind::Call) {
      at = static_cast<int>(i);
      break;
    }
  if (at < 0) return std::nullopt;
  std::string slot = key;
  std::replace(slot.begin(), slot.end(), '_', ' ');
  const auto& ph = sim.world().phrasing();
  ep.turns.insert(ep.turns.begin() + at, {TurnKind::Assistant, fill(rng.pick(ph.correction_acks), {{"value", plain_text(now)}}), -1});
  ep.turns.insert(ep.turns.begin() + at, {TurnKind::User, fill(rng.pick(ph.corrections), {{"slot", slot}, {"value", plain_text(now)}}), -1});
  const int ans = ep.answer_turn();
  if (ans >= 0) ep.turns[static_cast<size_t>(ans)].text = sim.compose_answer(ep, rng);
  m.rationale = fmt::format("{} uses {} {} because the user corrected it from {}.", call.tool->name, key, plain_text(now), plain_text(old));
  return m;
}

std::optional<Mutation> lookalike_not_used(const Episode& src, const Simulator& sim, Rng& rng) {
  const int c = src.call_for_request(0);
  if (c < 0) return std::nullopt;
  Mutation m{src, "", "lookalike_not_used"};
  Episode& ep = m.episode;
  const Tool& real = *ep.calls[static_cast<size_t>(c)].tool;
  auto fake = mutate::clone_tool(real);
  fake->name = mutate::lookalike_name(real.name, rng);
  if (sim.world().catalog().server(real.server)->find(fake->name)) return std::nullopt;
  fake->server = mutate::impostor_server_name(real.server, rng);
  if (sim.world().catalog().server(fake->server)) return std::nullopt;
  fake->mcp["name"] = fake->name;
  fake->compile();
  ep.owned.push_back(fake);
  sim.offer(ep, *fake);
  m.rationale = fmt::format("{} on {} resembles {}, but the client called the genuine {} on {} as the request needs.", fake->name,
                            fake->server, real.name, real.name, real.server);
  return m;
}

std::optional<Mutation> answer_from_history(const Episode& src, const Simulator& sim, Rng& rng) {
  const int c = src.call_for_request(0);
  if (c < 0 || src.calls[static_cast<size_t>(c)].is_error || !src.calls[static_cast<size_t>(c)].structured.is_object()) return std::nullopt;
  const Call& call = src.calls[static_cast<size_t>(c)];
  std::string field, value;
  for (auto it = call.structured.begin(); it != call.structured.end(); ++it)
    if (!is_token_name(it.key()) && (it.value().is_string() || it.value().is_number())) {
      field = it.key();
      value = plain_text(it.value());
      break;
    }
  if (field.empty()) return std::nullopt;
  Mutation m{src, "", "answer_from_history"};
  std::string f = field;
  std::replace(f.begin(), f.end(), '_', ' ');
  const auto& ph = sim.world().phrasing();
  m.episode.turns.push_back({TurnKind::User, fill(rng.pick(ph.history_questions), {{"field", f}}), -1});
  m.episode.turns.push_back({TurnKind::Assistant, fill(rng.pick(ph.history_answers), {{"field", f}, {"value", value}}), -1});
  m.rationale = fmt::format("The follow-up answer repeats {} {} from the earlier {} result; nothing is invented.", f, value, call.tool->name);
  return m;
}

}  // namespace

std::vector<Mutator> hard_negative_list() {
  auto any = [](const Tool&) { return true; };
  std::vector<Mutator> v;
  v.push_back({"admin_caller", "admin", false, [](const Tool& t) { return t.privilege == Privilege::Admin; },
               [](const Episode&, const Simulator&) { return true; }, admin_caller});
  v.push_back({"declared_prerequisite", "", false, [](const Tool& t) { return !t.requires.empty(); },
               [](const Episode&, const Simulator&) { return true; }, declared_prerequisite});
  v.push_back({"requested_multi_call", "", true, any, [](const Episode& ep, const Simulator&) { return ep.requests.size() >= 2; },
               requested_multi_call});
  v.push_back({"repeat_on_request", "", false, [](const Tool& t) { return t.read_only; },
               [](const Episode&, const Simulator&) { return true; }, repeat_on_request});
  v.push_back({"user_correction", "", false,
               [](const Tool& t) {
                 for (const auto& q : t.queries)
                   if (!q.slots.empty()) return true;
                 return false;
               },
               [](const Episode& ep, const Simulator&) { return !ep.requests[0].slots.empty(); }, user_correction});
  v.push_back({"lookalike_not_used", "", false, any, [](const Episode&, const Simulator&) { return true; }, lookalike_not_used});
  v.push_back({"answer_from_history", "", false, [](const Tool& t) { return t.output_schema.is_object(); },
               [](const Episode&, const Simulator&) { return true; }, answer_from_history});
  return v;
}

std::vector<Mutator> server_mutators();
std::vector<Mutator> client_mutators();

const std::vector<Mutator>& mutators() {
  static const std::vector<Mutator> all = [] {
    std::vector<Mutator> v = server_mutators();
    for (auto& m : client_mutators()) v.push_back(std::move(m));
    return v;
  }();
  return all;
}

const Mutator* find_mutator(const std::string& label_id) {
  for (const auto& m : mutators())
    if (m.id == label_id) return &m;
  return nullptr;
}

const std::vector<Mutator>& hard_negatives() {
  static const std::vector<Mutator> all = hard_negative_list();
  return all;
}

}  // namespace mcip::synth
