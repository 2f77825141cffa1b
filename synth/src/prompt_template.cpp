#include <fmt/format.h>

#include "mcip/hash.h"
#include "mcip/synth/json_text.h"
#include "mcip/synth/render.h"
#include "mcip/synth/simulator.h"
#include "mcip/taxonomy.h"

extern "C" {
extern const unsigned char mcip_synth_guardian_prompt_yaml[];
extern const unsigned long mcip_synth_guardian_prompt_yaml_size;
}

namespace mcip::synth {

PromptTemplate PromptTemplate::from_document(const Document& doc, const taxonomy::Taxonomy& tax) {
  const ojson& root = doc.root();
  if (!root.is_object()) doc.fail("", "expected a mapping");
  const std::vector<std::string> keys = {"layout", "definition", "question", "answer_format", "example_output", "answer"};
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it.key() != "schema_version" && std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      doc.fail("/" + pointer_token(it.key()), "unknown key");
  for (const auto& k : keys)
    if (!root.contains(k) || !root[k].is_string()) doc.fail("/" + k, "expected a string");
  const std::string layout = root["layout"].get<std::string>();
  const size_t at = layout.find("{chat}");
  if (at == std::string::npos || layout.find("{chat}", at + 1) != std::string::npos)
    doc.fail("/layout", "must contain {chat} exactly once");
  if (root["answer"].get<std::string>().find("{letter}") == std::string::npos) doc.fail("/answer", "must contain {letter}");
  std::string choices;
  for (const auto* l : tax.benchmark_labels()) choices += fmt::format("{}{}. {}", choices.empty() ? "" : "\n", l->letter, l->name);
  const std::vector<std::pair<std::string, std::string>> values = {
      {"definition", root["definition"].get<std::string>()}, {"choices", choices}, {"question", root["question"].get<std::string>()},
      {"answer_format", root["answer_format"].get<std::string>()}, {"example_output", root["example_output"].get<std::string>()}};
  PromptTemplate t;
  t.before_chat_ = fill(layout.substr(0, at), values);
  t.after_chat_ = fill(layout.substr(at + 6), values);
  t.answer_ = root["answer"].get<std::string>();
  append_json_escaped(t.before_escaped_, t.before_chat_);
  append_json_escaped(t.after_escaped_, t.after_chat_);
  t.hash_ = hash_hex(root.dump());
  return t;
}

PromptTemplate PromptTemplate::embedded(const taxonomy::Taxonomy& tax) {
  return from_document(Document::parse(std::string_view(reinterpret_cast<const char*>(mcip_synth_guardian_prompt_yaml),
                                                        mcip_synth_guardian_prompt_yaml_size),
                                       "<embedded synth/data/guardian_prompt.yaml>"),
                       tax);
}

std::string PromptTemplate::prompt(const std::string& chat_body) const { return before_chat_ + chat_body + after_chat_; }

std::string PromptTemplate::answer(const std::string& rationale, char letter, const std::string& name) const {
  return fill(answer_, {{"rationale", rationale}, {"letter", std::string(1, letter)}, {"name", name}});
}

}  // namespace mcip::synth
