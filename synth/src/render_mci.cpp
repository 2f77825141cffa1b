// The MCI information-flow log (MCIP §3): one 5-tuple per transmission, with the norm
// (transmission principle) read from the function's role and description.
#include <algorithm>

#include "mcip/synth/json_text.h"
#include "mcip/synth/render.h"

namespace mcip::synth {
namespace {

std::string client_for(const Identity& id) { return "client (for " + id.id + ", role " + id.role + ")"; }

bool mentions_auth(const Tool& t) {
  for (const char* w : {"verify", "authenticat", "login", "sign in", "identity", "passcode", "token"})
    if (t.name.find(w) != std::string::npos || t.description.find(w) != std::string::npos) return true;
  return false;
}

std::string principle_for(const Call& c) {
  if (c.purpose == "prerequisite" && mentions_auth(*c.tool)) return "authentication";
  if (c.purpose == "prerequisite") return "necessity (declared prerequisite)";
  switch (c.tool->privilege) {
    case Privilege::Admin: return "authorization";
    case Privilege::Write: return "consent";
    case Privilege::Read: break;
  }
  return "data minimisation";
}

std::string call_content(const Call& c) {
  std::string s = c.tool->name + "(";
  bool first = true;
  for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it) {
    if (!first) s += ", ";
    first = false;
    s += it.key() + "=" + plain_text(it.value());
  }
  return s + ")";
}

}  // namespace

std::string Flow::line() const {
  return sender + " sends " + information_type + " about " + subject + " to " + recipient + " under " + transmission_principle +
         ": " + content;
}

std::vector<Flow> mci_flows(const Episode& ep) {
  std::vector<Flow> flows;
  const std::string user = "user " + ep.caller.id;
  const std::string client = client_for(ep.caller);
  for (const auto& s : ep.sessions) {
    std::string names;
    for (const Tool* t : s.tools) names += (names.empty() ? "" : ", ") + t->name;
    flows.push_back({"server " + s.server, client, "server " + s.server, "function list", "transparency", names});
  }
  for (const auto& turn : ep.turns) {
    switch (turn.kind) {
      case TurnKind::User:
        flows.push_back({user, client, ep.subject, "query", "consent", turn.text});
        break;
      case TurnKind::Assistant:
        flows.push_back({client, user, ep.subject, "response", "transparency", turn.text});
        break;
      case TurnKind::Call: {
        const Call& c = ep.calls[static_cast<size_t>(turn.call)];
        flows.push_back({client_for(c.actor), "server " + c.server, ep.subject, "function request", principle_for(c), call_content(c)});
        std::string ret = c.text.size() > 240 ? c.text.substr(0, 240) + "..." : c.text;
        flows.push_back({"server " + c.server, client_for(c.actor), ep.subject, "function return",
                         c.is_error ? "error disclosure" : "service provision", ret});
        break;
      }
    }
  }
  return flows;
}

std::string render_mci(const std::vector<Flow>& flows) {
  std::string out;
  append_mci(out, flows);
  return out;
}

void append_mci(std::string& out, const std::vector<Flow>& flows) {
  JsonWriter w(out);
  w.begin_array();
  for (const auto& f : flows) {
    w.begin_object();
    w.key("sender").str(f.sender).key("recipient").str(f.recipient).key("subject").str(f.subject);
    w.key("information_type").str(f.information_type).key("transmission_principle").str(f.transmission_principle);
    w.key("content").str(f.content);
    w.end_object();
  }
  w.end_array();
}

}  // namespace mcip::synth
