#include <fmt/format.h>

#include "mcip/hash.h"
#include "mcip/synth/simulator.h"

extern "C" {
extern const unsigned char mcip_synth_phrasing_yaml[];
extern const unsigned long mcip_synth_phrasing_yaml_size;
}

namespace mcip::synth {

Phrasing Phrasing::from_document(const Document& doc) {
  Phrasing p;
  const ojson& root = doc.root();
  if (!root.is_object()) doc.fail("", "expected a mapping");
  const std::vector<std::pair<const char*, std::vector<std::string>*>> fields = {
      {"greetings", &p.greetings}, {"greeting_replies", &p.greeting_replies}, {"request_prefixes", &p.request_prefixes},
      {"request_suffixes", &p.request_suffixes}, {"multi_joiners", &p.multi_joiners}, {"thanks", &p.thanks},
      {"welcome", &p.welcome}, {"chitchat_questions", &p.chitchat_questions}, {"chitchat_answers", &p.chitchat_answers},
      {"answer_intros", &p.answer_intros}, {"answer_field", &p.answer_field}, {"answer_error", &p.answer_error},
      {"answer_empty", &p.answer_empty}, {"answer_text", &p.answer_text}, {"text_results_read", &p.text_results_read},
      {"text_results_write", &p.text_results_write}, {"repeat_requests", &p.repeat_requests},
      {"history_questions", &p.history_questions}, {"history_answers", &p.history_answers},
      {"corrections", &p.corrections}, {"correction_acks", &p.correction_acks}, {"fallback_queries", &p.fallback_queries}};
  for (auto it = root.begin(); it != root.end(); ++it) {
    bool known = it.key() == "schema_version";
    for (const auto& f : fields) known = known || it.key() == f.first;
    if (!known) doc.fail("/" + pointer_token(it.key()), "unknown key");
  }
  for (const auto& [key, out] : fields) {
    const std::string ptr = std::string("/") + key;
    if (!root.contains(key) || !root[key].is_array() || root[key].empty()) doc.fail(ptr, "expected a non-empty list of strings");
    for (size_t i = 0; i < root[key].size(); ++i) {
      if (!root[key][i].is_string()) doc.fail(fmt::format("{}/{}", ptr, i), "expected a string");
      out->push_back(root[key][i].get<std::string>());
    }
  }
  p.hash = hash_hex(root.dump());
  return p;
}

Phrasing Phrasing::embedded() {
  return from_document(Document::parse(
      std::string_view(reinterpret_cast<const char*>(mcip_synth_phrasing_yaml), mcip_synth_phrasing_yaml_size),
      "<embedded synth/data/phrasing.yaml>"));
}

std::string fill(const std::string& pattern, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      const size_t end = pattern.find('}', i + 1);
      if (end != std::string::npos) {
        const std::string_view key(pattern.data() + i + 1, end - i - 1);
        bool done = false;
        for (const auto& [k, v] : values)
          if (k == key) {
            out += v;
            done = true;
            break;
          }
        if (done) {
          i = end;
          continue;
        }
      }
    }
    out += pattern[i];
  }
  return out;
}

}  // namespace mcip::synth
