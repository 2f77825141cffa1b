// Which of the three interaction formats a piece of input is. Structural JSON checks first
// (a JSON-RPC list, MCI flow objects, a record holding renderings), then text markers (Glaive
// role prefixes, MCI "X sends Y ... to Z under P" lines).
#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/guard.h"

namespace mcip::guard {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool is_jsonrpc_entry(const nlohmann::json& e) {
  if (!e.is_object()) return false;
  const nlohmann::json& m = e.contains("message") && e["message"].is_object() ? e["message"] : e;
  // An mcip-synth record also has a "jsonrpc" key (its rendering, a list), so only the
  // envelope's version string counts.
  if (m.contains("jsonrpc")) return m["jsonrpc"].is_string();
  return m.contains("method") || (m.contains("id") && (m.contains("result") || m.contains("error")));
}

bool is_flow(const nlohmann::json& e) {
  return e.is_object() && e.contains("sender") && e.contains("recipient") && e.contains("information_type");
}

bool looks_like_mci_line(const std::string& line) {
  const auto sends = line.find(" sends ");
  if (sends == std::string::npos || sends == 0) return false;
  const auto to = line.find(" to ", sends);
  return to != std::string::npos && line.find(" under ", to) != std::string::npos;
}

std::optional<DetectedInput> detect_text(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  int lines = 0, mci = 0;
  while (std::getline(in, line)) {
    if (trim(line).empty()) continue;
    ++lines;
    mci += looks_like_mci_line(line);
  }
  const bool glaive_turns = text.find("USER:") != std::string::npos &&
                            (text.find("ASSISTANT:") != std::string::npos || text.find("FUNCTION RESPONSE:") != std::string::npos);
  if (glaive_turns || text.rfind("SYSTEM:", 0) == 0 || text.rfind("USER:", 0) == 0)
    return DetectedInput{InputFormat::Glaive, text, "text with Glaive role markers (SYSTEM:/USER:/ASSISTANT:)"};
  if (lines > 0 && mci * 2 > lines)
    return DetectedInput{InputFormat::Mci, text,
                         fmt::format("MCI flow log ({} of {} lines are 'X sends TYPE ... to Y under TP')", mci, lines)};
  return std::nullopt;
}

// Every non-empty line one JSON-RPC message (the trainer's own jsonrpc text form).
std::optional<DetectedInput> detect_json_lines(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  nlohmann::json list = nlohmann::json::array();
  while (std::getline(in, line)) {
    if (trim(line).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !is_jsonrpc_entry(j)) return std::nullopt;
    list.push_back(std::move(j));
  }
  if (list.size() < 2) return std::nullopt;
  return DetectedInput{InputFormat::JsonRpc, list, fmt::format("JSON-RPC messages, one per line ({})", list.size())};
}

std::optional<DetectedInput> detect_json(const nlohmann::json& j, const std::string& origin,
                                         std::optional<InputFormat> preferred, int depth);

std::optional<DetectedInput> from_record(const nlohmann::json& r, const std::string& origin,
                                         std::optional<InputFormat> preferred, int depth) {
  // An mcip-synth record: renderings at the top level or under `renderings`.
  const nlohmann::json& holder = r.contains("renderings") && r["renderings"].is_object() ? r["renderings"] : r;
  const std::vector<std::pair<InputFormat, const char*>> keys = {
      {InputFormat::Glaive, "glaive"}, {InputFormat::JsonRpc, "jsonrpc"}, {InputFormat::Mci, "mci"}};
  std::vector<std::pair<InputFormat, const char*>> order;
  if (preferred)
    for (const auto& k : keys)
      if (k.first == *preferred) order.push_back(k);
  for (const auto& k : keys)
    if (!preferred || k.first != *preferred) order.push_back(k);
  for (const auto& [format, key] : order) {
    if (!holder.contains(key)) continue;
    const nlohmann::json& v = holder[key];
    DetectedInput d{format, v, fmt::format("record field '{}'", key)};
    if (format == InputFormat::Glaive && !(v.is_string() || (v.is_object() && v.contains("chat")))) continue;
    if (format == InputFormat::JsonRpc && v.is_string()) {
      nlohmann::json parsed = nlohmann::json::parse(v.get<std::string>(), nullptr, false);
      if (!parsed.is_array()) continue;
      d.value = parsed;
    }
    return d;
  }
  // MCIP-bench: {"body": "<Glaive chat>", "label": ...}
  if (r.contains("body") && r["body"].is_string()) {
    auto d = detect_json(nlohmann::json(r["body"].get<std::string>()), origin, preferred, depth + 1);
    if (d) d->how = "MCIP-bench record 'body': " + d->how;
    return d;
  }
  return std::nullopt;
}

std::optional<DetectedInput> detect_json(const nlohmann::json& j, const std::string& origin,
                                         std::optional<InputFormat> preferred, int depth) {
  if (depth > 2) return std::nullopt;
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (trim(s).empty()) throw InputError(origin, 0, "", "empty interaction text");
    return detect_text(s);
  }
  if (j.is_array()) {
    if (j.empty()) throw InputError(origin, 0, "", "empty JSON array: no messages or flows to classify");
    if (std::all_of(j.begin(), j.end(), is_jsonrpc_entry))
      return DetectedInput{InputFormat::JsonRpc, j, fmt::format("JSON array of {} JSON-RPC messages", j.size())};
    if (std::all_of(j.begin(), j.end(), is_flow))
      return DetectedInput{InputFormat::Mci, j, fmt::format("JSON array of {} MCI flows", j.size())};
    return std::nullopt;
  }
  if (j.is_object()) {
    if (j.contains("system") && j.contains("chat") && j["system"].is_string() && j["chat"].is_string())
      return DetectedInput{InputFormat::Glaive, j, "Glaive {system, chat} object"};
    if (is_jsonrpc_entry(j)) return DetectedInput{InputFormat::JsonRpc, nlohmann::json::array({j}), "one JSON-RPC message"};
    return from_record(j, origin, preferred, depth);
  }
  return std::nullopt;
}

}  // namespace

std::string to_string(InputFormat f) {
  switch (f) {
    case InputFormat::JsonRpc: return "jsonrpc";
    case InputFormat::Glaive: return "glaive";
    case InputFormat::Mci: return "mci";
  }
  return "?";
}

train::Rendering rendering_of(InputFormat f) {
  switch (f) {
    case InputFormat::JsonRpc: return train::Rendering::JsonRpc;
    case InputFormat::Mci: return train::Rendering::Mci;
    case InputFormat::Glaive: break;
  }
  return train::Rendering::Glaive;
}

DetectedInput detect_input(const std::string& text, const std::string& origin, std::optional<InputFormat> preferred) {
  const std::string t = trim(text);
  if (t.empty()) throw InputError(origin, 0, "", "empty input: expected one interaction (JSON-RPC message list, Glaive chat or MCI flow log)");
  if (t.front() == '[' || t.front() == '{') {
    nlohmann::json j = nlohmann::json::parse(t, nullptr, false);
    if (!j.is_discarded()) {
      if (auto d = detect_json(j, origin, preferred, 0)) return *d;
      throw InputError(origin, 0, "",
                       "unknown format: valid JSON but neither a JSON-RPC message list, MCI flows ({sender, recipient, "
                       "information_type, ...}), a Glaive {system, chat} object nor a record with 'body' or renderings");
    }
    if (auto d = detect_json_lines(t)) return *d;
    // Several JSON records (a JSONL file) are not one interaction; anything else is broken JSON.
    std::istringstream in(t);
    std::string line;
    int objects = 0;
    while (std::getline(in, line))
      if (!trim(line).empty()) objects += nlohmann::json::parse(line, nullptr, false).is_object() ? 1 : -1000;
    if (objects > 1)
      throw InputError(origin, 0, "",
                       fmt::format("{} JSON records, one per line: classify takes one interaction (use mcip-guard eval "
                                   "for JSONL files)",
                                   objects));
    try {
      (void)nlohmann::json::parse(t);
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(origin, 0, "", fmt::format("malformed JSON: {}", e.what()));
    }
  }
  if (auto d = detect_text(t)) return *d;
  throw InputError(origin, 0, "",
                   "unknown format: expected a JSON-RPC message list (JSON array), a Glaive chat (USER:/ASSISTANT: turns) "
                   "or an MCI flow log ('SENDER sends TYPE about SUBJECT to RECIPIENT under TP: ...' lines)");
}

}  // namespace mcip::guard
