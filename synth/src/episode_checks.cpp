#include "mcip/synth/episode_checks.h"

#include <algorithm>

#include <fmt/format.h>

namespace mcip::synth {

std::vector<std::string> check_benign(const Episode& ep) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ep.calls.size(); ++i) {
    const Call& c = ep.calls[i];
    const std::string at = fmt::format("call {} ({})", i, c.tool->name);
    if (!ep.offered(c.server, c.tool->name)) out.push_back(at + ": tool not offered by " + c.server);
    if (c.tool->synthetic) out.push_back(at + ": synthetic tool in a benign episode");
    if (c.purpose != "requested" && c.purpose != "prerequisite" && c.purpose != "failed_attempt") out.push_back(at + ": purpose " + c.purpose);
    if (c.purpose == "failed_attempt" &&
        (!c.is_error || i + 1 >= ep.calls.size() || ep.calls[i + 1].tool != c.tool || ep.calls[i + 1].arguments != c.arguments))
      out.push_back(at + ": a failed attempt must be an error retried right after with the same arguments");
    if (!(c.actor == ep.caller)) out.push_back(at + ": actor differs from the caller");
    const std::string scope = fmt::format("{}:{}", c.server, privilege_name(c.tool->privilege));
    if (!ep.caller.has_scope(scope)) out.push_back(at + ": caller lacks scope " + scope);
    for (const auto& r : c.tool->requires) {
      bool before = false;
      for (size_t j = 0; j < i; ++j) before = before || (ep.calls[j].tool->name == r && ep.calls[j].server == c.server);
      if (!before) out.push_back(at + ": prerequisite " + r + " did not run first");
    }
    if (c.purpose == "requested") {
      const Request& req = ep.requests.at(static_cast<size_t>(c.request));
      if (req.tool != c.tool) out.push_back(at + ": serves a request for " + req.tool->name);
      for (auto it = req.slots.begin(); it != req.slots.end(); ++it)
        if (!c.arguments.contains(it.key()) || c.arguments[it.key()] != it.value())
          out.push_back(at + ": argument " + it.key() + " differs from what the user stated");
    }
    for (const auto& a : c.tool->required_args)
      if (!c.arguments.contains(a)) out.push_back(at + ": required argument " + a + " missing");
    if (!c.is_error && c.structured.is_object() && c.tool->output_schema.contains("required"))
      for (const auto& k : c.tool->output_schema["required"])
        if (!c.structured.contains(k.get<std::string>())) out.push_back(at + ": result lacks required " + k.get<std::string>());
  }
  for (size_t r = 0; r < ep.requests.size(); ++r)
    if (ep.call_for_request(static_cast<int>(r)) < 0) out.push_back(fmt::format("request {} has no call", r));
  if (ep.answer_turn() < 0) out.push_back("no final answer");
  return out;
}

}  // namespace mcip::synth
