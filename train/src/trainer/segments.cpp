// Rendering values -> text segments with cut policies, and segments -> token ids that fit.
#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_data.h"
#include "mci_text.h"

namespace mcip::train {
namespace {

bool is_tool_call(const nlohmann::json& entry) {
  const nlohmann::json* msg = &entry;
  if (entry.is_object() && entry.contains("message")) msg = &entry["message"];
  return msg->is_object() && msg->contains("method") && (*msg)["method"] == "tools/call";
}

// The handshake and tools/list (which can be long and whose tail matters least) as one
// segment, the calls and results from the first tools/call on as the other. One message per
// line, compact JSON, so the same interaction always gives the same text.
std::vector<Segment> jsonrpc_segments(const nlohmann::json& messages) {
  std::string before, after;
  bool calls = false;
  for (const auto& m : messages) {
    calls = calls || is_tool_call(m);
    (calls ? after : before) += m.dump() + "\n";
  }
  return {{before, CutPolicy::CutTail}, {after, CutPolicy::CutMiddle}};
}

// The Glaive SYSTEM part ends with the "Caller: name (id, role; scopes)" line after the tool
// definitions; who calls decides identity/privilege labels, so it is kept whole while the tool
// list before it loses its tail. Returns the definitions part and the caller line ("" if none).
std::pair<std::string, std::string> split_caller(const std::string& system) {
  const auto caller = system.rfind("\nCaller:");
  const auto line_end = caller == std::string::npos ? caller : system.find('\n', caller + 1);
  const bool last_line = caller != std::string::npos &&
                         (line_end == std::string::npos || system.find_first_not_of(" \r\n", line_end) == std::string::npos);
  if (!last_line) return {system, ""};
  return {system.substr(0, caller + 1), system.substr(caller + 1)};
}

// End of the JSON object that starts at `open` (a '{'), string- and escape-aware; npos if unclosed.
size_t object_end(const std::string& s, size_t open) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = open; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

// Names of the functions the conversation calls, in first-call order.
std::vector<std::string> called_functions(const std::string& chat) {
  std::vector<std::string> names;
  static const std::string marker = "<functioncall>";
  for (size_t at = chat.find(marker); at != std::string::npos; at = chat.find(marker, at + marker.size())) {
    const size_t open = chat.find('{', at);
    if (open == std::string::npos) break;
    const size_t close = object_end(chat, open);
    if (close == std::string::npos) break;
    // Glaive quotes the arguments with single quotes, so only the name is read as JSON.
    const size_t key = chat.find("\"name\"", open);
    if (key == std::string::npos || key > close) continue;
    const size_t q1 = chat.find('"', chat.find(':', key) + 1);
    const size_t q2 = q1 == std::string::npos ? q1 : chat.find('"', q1 + 1);
    if (q2 == std::string::npos || q2 > close) continue;
    std::string name = chat.substr(q1 + 1, q2 - q1 - 1);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  return names;
}

// `name(required, optional?): description` of one Glaive function definition.
std::string signature(const nlohmann::json& tool) {
  std::string line = tool.value("name", std::string("?")) + "(";
  const auto params = tool.find("parameters");
  if (params != tool.end() && params->is_object()) {
    std::vector<std::string> required;
    if (params->contains("required") && (*params)["required"].is_array())
      for (const auto& r : (*params)["required"])
        if (r.is_string()) required.push_back(r.get<std::string>());
    bool first = true;
    if (params->contains("properties") && (*params)["properties"].is_object())
      for (const auto& [name, schema] : (*params)["properties"].items()) {
        (void)schema;
        line += (first ? "" : ", ") + name;
        if (std::find(required.begin(), required.end(), name) == required.end()) line += "?";
        first = false;
      }
  }
  line += ")";
  const auto desc = tool.find("description");
  if (desc != tool.end() && desc->is_string()) line += ": " + desc->get<std::string>();
  return line;
}

// The definitions part as signature lines, called functions first. nullopt when the text is not
// a preamble followed by JSON function objects (then the verbatim view is used).
std::optional<std::vector<Segment>> signature_segments(const std::string& definitions, const std::string& chat) {
  const size_t first = definitions.find('{');
  if (first == std::string::npos) return std::nullopt;
  std::vector<nlohmann::json> tools;
  size_t at = first;
  while (true) {
    at = definitions.find_first_not_of(" \r\n\t", at);
    if (at == std::string::npos) break;
    if (definitions[at] != '{') return std::nullopt;
    const size_t end = object_end(definitions, at);
    if (end == std::string::npos) return std::nullopt;
    nlohmann::json tool = nlohmann::json::parse(definitions.begin() + static_cast<std::ptrdiff_t>(at),
                                                definitions.begin() + static_cast<std::ptrdiff_t>(end), nullptr, false);
    if (tool.is_discarded() || !tool.is_object()) return std::nullopt;
    tools.push_back(std::move(tool));
    at = end;
  }
  if (tools.empty()) return std::nullopt;
  const auto called = called_functions(chat);
  // The preamble ("You are a helpful assistant with access to...") is the same in every example: dropped.
  std::string called_text, other_text;
  for (const auto& name : called)
    for (const auto& t : tools)
      if (t.value("name", std::string()) == name) called_text += signature(t) + "\n";
  for (const auto& t : tools)
    if (std::find(called.begin(), called.end(), t.value("name", std::string())) == called.end())
      other_text += signature(t) + "\n";
  std::vector<Segment> out;
  if (!called_text.empty()) out.push_back({called_text, CutPolicy::CutTail});
  if (!other_text.empty()) out.push_back({other_text, CutPolicy::CutTail});
  return out;
}

std::vector<Segment> glaive_segments(const std::string& system, const std::string& chat, ToolView view) {
  auto [definitions, caller] = split_caller(system);
  std::vector<Segment> out;
  std::optional<std::vector<Segment>> sig;
  if (view == ToolView::Signatures) sig = signature_segments(definitions, chat);
  if (sig) out = std::move(*sig);
  else out.push_back({definitions, CutPolicy::CutTail});
  if (!caller.empty()) out.push_back({caller, CutPolicy::Keep});
  out.push_back({chat, CutPolicy::CutMiddle});
  return out;
}

}  // namespace

std::vector<Segment> segments_for(Rendering rendering, const nlohmann::json& value, const std::string& origin,
                                  int line, const TextView& view) {
  const std::string field = to_string(rendering);
  switch (rendering) {
    case Rendering::Glaive: {
      if (value.is_object()) {
        if (!value.contains("system") || !value["system"].is_string() || !value.contains("chat") ||
            !value["chat"].is_string())
          throw InputError(origin, line, field, "expected {\"system\": string, \"chat\": string} or a string");
        return glaive_segments(value["system"].get<std::string>() + "\n", value["chat"].get<std::string>(), view.tool_view);
      }
      if (!value.is_string()) throw InputError(origin, line, field, "expected a string or {system, chat}");
      const std::string text = value.get<std::string>();
      // The system part (preamble + tool definitions) ends where the first user turn starts.
      const auto user = text.find("USER:");
      if (user == std::string::npos || user == 0) return {{text, CutPolicy::CutMiddle}};
      return glaive_segments(text.substr(0, user), text.substr(user), view.tool_view);
    }
    case Rendering::JsonRpc: {
      if (value.is_array()) return jsonrpc_segments(value);
      if (value.is_string()) {
        nlohmann::json parsed = nlohmann::json::parse(value.get<std::string>(), nullptr, false);
        if (parsed.is_array()) return jsonrpc_segments(parsed);
        throw InputError(origin, line, field, "the string is not a JSON array of messages");
      }
      throw InputError(origin, line, field, "expected a JSON array of messages");
    }
    case Rendering::Mci: {
      std::vector<McipFlow> flows;
      if (value.is_string()) {
        auto parsed = mci_flows_from_text(value.get<std::string>());
        if (!parsed) return {{value.get<std::string>(), CutPolicy::CutMiddle}};  // not a flow log: used as written
        flows = std::move(*parsed);
      } else {
        flows = mci_flows_from_json(value, origin, line, field);
      }
      // Like glaive: who the caller is stays whole, the tool lists lose their tail first, and a
      // long conversation loses its middle (the request and the last calls and answer stay).
      CompactMci text = compact_mci(flows, view.max_result_chars, view.flow_checks);
      std::vector<Segment> out;
      // What the flow checks found stays whole with the caller: a cut middle must not hide it.
      if (!text.caller.empty() || !text.checks.empty())
        out.push_back({text.caller + text.checks, CutPolicy::Keep});
      if (!text.tool_lists.empty()) out.push_back({std::move(text.tool_lists), CutPolicy::CutTail});
      out.push_back({std::move(text.conversation), CutPolicy::CutMiddle});
      return out;
    }
  }
  throw InputError(origin, line, field, "unknown rendering");
}

std::vector<Segment> guardian_segments(const std::string& prompt, const std::string& answer) {
  std::vector<Segment> out;
  const auto chat = prompt.find("###Chat\n");
  const auto question = chat == std::string::npos ? std::string::npos : prompt.find("\n\n###Question:", chat);
  if (question == std::string::npos) {
    out.push_back({prompt, CutPolicy::CutMiddle});
  } else {
    const auto body = chat + 8;
    out.push_back({prompt.substr(0, body), CutPolicy::Keep});
    out.push_back({prompt.substr(body, question - body), CutPolicy::CutMiddle});
    out.push_back({prompt.substr(question) + "\n", CutPolicy::Keep});
  }
  out.push_back({answer, CutPolicy::Keep, true});
  return out;
}

EncodedExample encode_segments(const std::vector<Segment>& segments, const tokenizer::SentencePiece& sp,
                               const EncodeOptions& options) {
  std::vector<std::vector<int>> ids(segments.size());
  for (size_t i = 0; i < segments.size(); ++i) ids[i] = sp.encode(segments[i].text);
  const std::int64_t specials = 1 + (options.add_eos ? 1 : 0);
  const std::int64_t budget = options.max_length - specials;
  std::int64_t fixed = 0, tail_len = 0, middle_len = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto n = static_cast<std::int64_t>(ids[i].size());
    if (segments[i].policy == CutPolicy::Keep) fixed += n;
    else if (segments[i].policy == CutPolicy::CutTail) tail_len += n;
    else middle_len += n;
  }
  EncodedExample ex;
  if (fixed > budget)
    throw InputError("", 0, "data.max_length",
                     fmt::format("{} tokens cannot hold the fixed prompt parts and answer ({} tokens)",
                                 options.max_length, fixed + specials));
  const std::int64_t avail = budget - fixed;
  std::int64_t tail_keep = tail_len, middle_keep = middle_len;
  if (tail_len + middle_len > avail) {
    ex.truncated = true;
    // The conversation (request, calls, answer) has priority; the tool list keeps a third of
    // the room, or more when the conversation is short.
    tail_keep = std::min(tail_len, std::max(avail / 3, avail - middle_len));
    middle_keep = std::min(middle_len, avail - tail_keep);
    tail_keep = std::min(tail_len, avail - middle_keep);
  }
  // Several segments of one policy share its budget in order (in practice there is one of each).
  ex.ids.reserve(static_cast<size_t>(options.max_length));
  ex.ids.push_back(sp.bos_id());
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& seg = ids[i];
    const auto n = static_cast<std::int64_t>(seg.size());
    if (segments[i].is_answer && ex.answer_start < 0) ex.answer_start = static_cast<std::int32_t>(ex.ids.size());
    if (segments[i].policy == CutPolicy::Keep) {
      ex.ids.insert(ex.ids.end(), seg.begin(), seg.end());
    } else if (segments[i].policy == CutPolicy::CutTail) {
      const std::int64_t k = std::min(n, tail_keep);
      tail_keep -= k;
      ex.ids.insert(ex.ids.end(), seg.begin(), seg.begin() + k);
    } else {
      const std::int64_t k = std::min(n, middle_keep);
      middle_keep -= k;
      const std::int64_t head = std::min(k / 2, options.keep_head_tokens);
      ex.ids.insert(ex.ids.end(), seg.begin(), seg.begin() + head);
      ex.ids.insert(ex.ids.end(), seg.end() - (k - head), seg.end());
    }
  }
  if (options.add_eos) ex.ids.push_back(sp.eos_id());
  return ex;
}

}  // namespace mcip::train
