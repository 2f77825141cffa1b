// A simulated MCP session: who asks, which servers and tools are connected, what the user
// said, which calls the client made and what came back. Mutators edit episodes; renderers
// turn them into Glaive text, JSON-RPC messages and MCI flows.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "mcip/synth/catalog.h"

namespace mcip::synth {

struct Identity {
  std::string id;     // "u-48213"
  std::string name;   // "Maria Lopez"
  std::string role;   // user | admin | service
  std::vector<std::string> scopes;  // "<server>:<privilege>"
  bool has_scope(const std::string& s) const;
  bool operator==(const Identity& o) const { return id == o.id && role == o.role && scopes == o.scopes; }
};

struct Session {
  std::string server, version, title, instructions;
  std::vector<const Tool*> tools;  // the tools/list result, in order
  bool impostor = false;           // a server that is not in any catalog (made up by a mutator)
};

struct Call {
  const Tool* tool = nullptr;
  std::string server;
  ojson arguments = ojson::object();
  ojson structured;        // structuredContent; null when the tool has no outputSchema
  std::string text;        // the text content block
  bool is_error = false;
  std::string purpose;     // requested | prerequisite | injected | replayed
  int request = -1;        // index into Episode::requests for requested calls
  Identity actor;          // the identity the client presents for this call
  // The CallToolResult exactly as a real server sent it, when the call comes from a recorded
  // trace (structured/text are then derived from it). Null for simulated results: anything that
  // re-simulates or edits the result clears it, so a rendered real result is always the real one.
  ojson recorded;
};

enum class TurnKind { User, Assistant, Call };
struct Turn {
  TurnKind kind = TurnKind::User;
  std::string text;
  int call = -1;
  bool answer = false;  // the assistant's answer to a request (not small talk)
};

struct Request {
  const Tool* tool = nullptr;
  int query = -1;          // index into tool->queries, -1 = fallback phrasing
  ojson slots = ojson::object();  // values the user stated
  std::string text;
};

struct Seed;  // a recorded real exchange (recorded_seeds.h)

struct Episode {
  Identity caller;
  std::vector<Session> sessions;
  std::vector<Request> requests;
  std::vector<Call> calls;
  std::vector<Turn> turns;
  std::string template_id;  // "<server>/<tool>#<query>" of the first request
  std::string group;        // split group: template and tool
  std::string split;        // train | validation | test | test_unseen_tools
  std::string subject;      // the data subject of the exchange
  std::string hard_negative;
  const Seed* seed = nullptr;  // the recorded exchange this episode was built from, if any
  std::vector<std::shared_ptr<const Tool>> owned;  // synthetic tools referenced by sessions/calls

  // Index of the call serving request `r`, or -1.
  int call_for_request(int r) const;
  // Index of the Call turn for call `c`, or -1.
  int turn_of_call(int c) const;
  // The last assistant turn that answers a request, or -1.
  int answer_turn() const;
  Session* session(const std::string& server);
  const Session* session(const std::string& server) const;
  const Tool* offered(const std::string& server, const std::string& tool) const;
  // Removes call `c` and its turn, fixing call indices in turns.
  void erase_call(int c);
  // Inserts `call` so that it is call number `at` and its turn precedes the turn of the call now at `at`
  // (or follows the last call when at == calls.size()).
  void insert_call(int at, Call call);
};

}  // namespace mcip::synth
