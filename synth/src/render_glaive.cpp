// Glaive function-calling v2 layout (see ../shared/reference/mcip.md §9 in the project notes):
// SYSTEM preamble + 4-space pretty definitions separated by blank lines; chat turns separated
// by "\n\n\n"; calls as <functioncall> with single-quoted JSON arguments.
#include "mcip/synth/json_text.h"
#include "mcip/synth/render.h"

namespace mcip::synth {

std::string render_glaive_system(const Episode& ep) {
  std::string out;
  size_t n = 0;
  for (const auto& s : ep.sessions) n += s.tools.size();
  if (n == 0) {
    out = "SYSTEM: You are a helpful assistant, with no access to external functions.";
  } else {
    out = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n";
    bool first = true;
    for (const auto& s : ep.sessions)
      for (const Tool* t : s.tools) {
        if (!first) out += "\n\n";
        first = false;
        out += t->glaive_def;
      }
  }
  // Authorization context: a guardian cannot judge identity or privilege without it.
  out += "\n\nCaller: ";
  out += ep.caller.name;
  out += " (id ";
  out += ep.caller.id;
  out += ", role ";
  out += ep.caller.role;
  out += "; scopes: ";
  for (size_t i = 0; i < ep.caller.scopes.size(); ++i) {
    if (i) out += ", ";
    out += ep.caller.scopes[i];
  }
  out += ")";
  return out;
}

namespace {
const char* kWithTools = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n";
const char* kNoTools = "SYSTEM: You are a helpful assistant, with no access to external functions.";

std::string caller_line(const Episode& ep) {
  std::string out = "Caller: " + ep.caller.name + " (id " + ep.caller.id + ", role " + ep.caller.role + "; scopes: ";
  for (size_t i = 0; i < ep.caller.scopes.size(); ++i) out += (i ? ", " : "") + ep.caller.scopes[i];
  return out + ")";
}
}  // namespace

GlaiveSystem render_glaive_system_parts(const Episode& ep) {
  GlaiveSystem g;
  size_t n = 0, bytes = 0;
  for (const auto& s : ep.sessions)
    for (const Tool* t : s.tools) {
      ++n;
      bytes += t->glaive_def_escaped.size() + 4;
    }
  g.escaped.reserve(bytes + 512);
  g.normalized.reserve(bytes + 512);
  append_json_escaped(g.escaped, n ? kWithTools : kNoTools);
  append_normalized(g.normalized, n ? kWithTools : kNoTools);
  bool first = true;
  for (const auto& s : ep.sessions)
    for (const Tool* t : s.tools) {
      if (!first) g.escaped += "\\n\\n";
      first = false;
      g.escaped += t->glaive_def_escaped;
      g.normalized += ' ';
      g.normalized += t->glaive_def_normalized;
    }
  const std::string caller = caller_line(ep);
  g.escaped += "\\n\\n";
  append_json_escaped(g.escaped, caller);
  g.normalized += ' ';
  append_normalized(g.normalized, caller);
  return g;
}

std::string render_glaive_chat(const Episode& ep) {
  std::string out;
  for (const auto& turn : ep.turns) {
    if (!out.empty()) out += "\n\n\n";
    switch (turn.kind) {
      case TurnKind::User:
        out += "USER: ";
        out += turn.text;
        break;
      case TurnKind::Assistant:
        out += "ASSISTANT: ";
        out += turn.text;
        out += " <|endoftext|>";
        break;
      case TurnKind::Call: {
        const Call& c = ep.calls[static_cast<size_t>(turn.call)];
        out += "ASSISTANT: <functioncall> {\"name\": ";
        append_json_string(out, c.tool->name);
        out += ", \"arguments\": '";
        append_python_json(out, c.arguments);
        out += "'} <|endoftext|>\n\n\nFUNCTION RESPONSE: ";
        if (c.is_error) {
          ojson e = ojson::object();
          e["error"] = c.text;
          append_python_json(out, e);
        } else if (c.structured.is_object()) {
          append_python_json(out, c.structured);
        } else {
          const ojson parsed = ojson::parse(c.text, nullptr, false);
          if (parsed.is_discarded()) out += c.text;
          else append_python_json(out, parsed);
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace mcip::synth
