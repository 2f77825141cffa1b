#include "mcip/synth/episode.h"

#include <algorithm>

namespace mcip::synth {

bool Identity::has_scope(const std::string& s) const { return std::find(scopes.begin(), scopes.end(), s) != scopes.end(); }

int Episode::call_for_request(int r) const {
  for (size_t i = 0; i < calls.size(); ++i)
    if (calls[i].purpose == "requested" && calls[i].request == r) return static_cast<int>(i);
  return -1;
}

int Episode::turn_of_call(int c) const {
  for (size_t i = 0; i < turns.size(); ++i)
    if (turns[i].kind == TurnKind::Call && turns[i].call == c) return static_cast<int>(i);
  return -1;
}

int Episode::answer_turn() const {
  for (size_t i = turns.size(); i-- > 0;)
    if (turns[i].kind == TurnKind::Assistant && turns[i].answer) return static_cast<int>(i);
  return -1;
}

Session* Episode::session(const std::string& server) {
  for (auto& s : sessions)
    if (s.server == server) return &s;
  return nullptr;
}

const Session* Episode::session(const std::string& server) const {
  for (const auto& s : sessions)
    if (s.server == server) return &s;
  return nullptr;
}

const Tool* Episode::offered(const std::string& server, const std::string& tool) const {
  const Session* s = session(server);
  if (!s) return nullptr;
  for (const Tool* t : s->tools)
    if (t->name == tool) return t;
  return nullptr;
}

void Episode::erase_call(int c) {
  const int t = turn_of_call(c);
  if (t >= 0) turns.erase(turns.begin() + t);
  calls.erase(calls.begin() + c);
  for (auto& turn : turns)
    if (turn.kind == TurnKind::Call && turn.call > c) --turn.call;
}

void Episode::insert_call(int at, Call call) {
  int turn_at;
  if (at < static_cast<int>(calls.size())) {
    turn_at = turn_of_call(at);
  } else {
    turn_at = calls.empty() ? static_cast<int>(turns.size()) : turn_of_call(static_cast<int>(calls.size()) - 1) + 1;
  }
  for (auto& turn : turns)
    if (turn.kind == TurnKind::Call && turn.call >= at) ++turn.call;
  calls.insert(calls.begin() + at, std::move(call));
  Turn t;
  t.kind = TurnKind::Call;
  t.call = at;
  turns.insert(turns.begin() + turn_at, t);
}

}  // namespace mcip::synth
