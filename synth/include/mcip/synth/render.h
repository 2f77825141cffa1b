// Renderings of an episode: the Glaive function-calling v2 text, the MCP JSON-RPC message
// list (revision configurable, 2025-11-25 by default), the MCI flow log, and the guardian
// SFT prompt/answer pair.
#pragma once
#include <string>
#include <vector>

#include "mcip/synth/episode.h"

namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::synth {

// SYSTEM text: the Glaive preamble, the offered tools' definitions, then a "Caller:" line.
std::string render_glaive_system(const Episode& ep);
// The same system text, JSON-escaped and normalized, assembled from per-tool precomputed
// pieces (the hot path never escapes or normalizes tool definitions).
struct GlaiveSystem {
  std::string escaped;     // JSON-escaped, no quotes
  std::string normalized;  // normalize_text(render_glaive_system(ep))
};
GlaiveSystem render_glaive_system_parts(const Episode& ep);
// USER / ASSISTANT / FUNCTION RESPONSE turns separated by blank lines ("\n\n\n").
std::string render_glaive_chat(const Episode& ep);

// JSON array of {"server","direction":"client_to_server"|"server_to_client","message":{...}}: per
// server, initialize / notifications/initialized / tools/list, then each tools/call in order.
std::string render_jsonrpc(const Episode& ep, const std::string& protocol_version);
void append_jsonrpc(std::string& out, const Episode& ep, const std::string& protocol_version);

struct Flow {
  std::string sender, recipient, subject, information_type, transmission_principle, content;
  std::string line() const;  // "SENDER sends TYPE about SUBJECT to RECIPIENT under TP: content"
  bool operator==(const Flow& o) const {
    return content == o.content && sender == o.sender && recipient == o.recipient && information_type == o.information_type &&
           transmission_principle == o.transmission_principle && subject == o.subject;
  }
};
std::vector<Flow> mci_flows(const Episode& ep);
std::string render_mci(const std::vector<Flow>& flows);
void append_mci(std::string& out, const std::vector<Flow>& flows);

class PromptTemplate {
 public:
  static PromptTemplate from_document(const Document& doc, const taxonomy::Taxonomy& tax);
  static PromptTemplate embedded(const taxonomy::Taxonomy& tax);
  std::string prompt(const std::string& chat_body) const;
  std::string answer(const std::string& rationale, char letter, const std::string& name) const;
  const std::string& hash() const { return hash_; }
  const std::string& before_chat_escaped() const { return before_escaped_; }
  const std::string& after_chat_escaped() const { return after_escaped_; }

 private:
  std::string before_chat_, after_chat_, answer_, before_escaped_, after_escaped_;
  std::string hash_;
};

}  // namespace mcip::synth
