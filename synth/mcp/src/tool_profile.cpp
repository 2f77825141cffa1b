#include "mcip/tool_profile.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

namespace mcip::mcp {
namespace {

// Verb lists are the heuristic's whole knowledge; keep them small and explainable.
const std::set<std::string> kExecutionWords = {"evaluate", "eval", "execute", "exec", "shell", "script"};
const std::set<std::string> kAdminVerbs = {"delete", "remove", "drop", "destroy", "purge", "erase",  "merge",
                                           "push",   "revoke", "grant", "kill",   "terminate", "truncate", "reset"};
const std::set<std::string> kWriteVerbs = {
    "create", "update",  "write",   "edit",    "set",    "add",    "post",    "send",     "reply",  "insert",
    "upload", "put",     "patch",   "modify",  "move",   "rename", "copy",    "fill",     "click",  "select",
    "hover",  "navigate", "toggle", "trigger", "generate", "save", "append",  "commit",   "comment", "review",
    "fork",   "store",   "publish", "assign",  "close",  "submit", "approve", "invite",   "archive", "gzip",
    "enable", "disable", "schedule", "book",   "pay",    "transfer", "register", "install", "deploy"};
const std::set<std::string> kReadVerbs = {
    "get",      "list",     "read",       "search",    "find",    "fetch",    "query",   "describe", "show",
    "view",     "open",     "lookup",     "retrieve",  "geocode",
    "screenshot", "echo",   "check",      "count",     "inspect", "download", "browse",  "explain",  "summarize",
    "status",   "info",     "details",       "compare",   "validate", "calculate", "convert", "translate", "think"};

bool has_word(const std::vector<std::string>& words, const std::set<std::string>& set) {
  return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return set.count(w) > 0; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string description_of(const Json& tool) {
  if (tool.contains("description") && tool["description"].is_string()) return tool["description"].get<std::string>();
  return {};
}

// First sentence of a description, as plain text safe to embed in a template.
std::string first_sentence(const std::string& description) {
  std::string text;
  for (char c : description) {
    if (c == '{' || c == '}') continue;  // would read as template slots
    text += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  std::string collapsed;
  for (char c : text) {
    if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
    collapsed += c;
  }
  while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
  std::size_t end = std::string::npos;
  for (std::size_t i = 0; i + 1 <= collapsed.size(); ++i) {
    const char c = collapsed[i];
    if (c != '.' && c != '!' && c != '?' && c != ':' && c != ';') continue;
    if (i + 1 < collapsed.size() && collapsed[i + 1] != ' ') continue;  // "e.g.x", "1.5", "v2.0"
    if (c == '.' && i >= 3 && (collapsed.compare(i - 3, 4, "e.g.") == 0 || collapsed.compare(i - 3, 4, "i.e.") == 0))
      continue;
    end = i;
    break;
  }
  std::string sentence = collapsed.substr(0, end);
  constexpr std::size_t kMax = 160;
  if (sentence.size() > kMax) {
    const auto cut = sentence.rfind(' ', kMax);
    sentence = sentence.substr(0, cut == std::string::npos ? kMax : cut);
  }
  return sentence;
}

// "creates" → "create", "searches" → "search", "echoes" → "echo", "applies" → "apply".
std::string imperative(std::string word) {
  const auto n = word.size();
  if (n > 4 && (word.compare(n - 4, 4, "ches") == 0 || word.compare(n - 4, 4, "shes") == 0 ||
                word.compare(n - 4, 4, "sses") == 0 || word.compare(n - 3, 3, "xes") == 0 ||
                word.compare(n - 3, 3, "oes") == 0))
    word.resize(n - 2);
  else if (n > 3 && word.compare(n - 3, 3, "ies") == 0)
    word = word.substr(0, n - 3) + "y";
  else if (n > 3 && word.back() == 's' && word[n - 2] != 's' && word[n - 2] != 'u' && word[n - 2] != 'i')
    word.pop_back();
  return word;
}

bool is_verb(const std::string& w) {
  return kReadVerbs.count(w) || kWriteVerbs.count(w) || kAdminVerbs.count(w) || kExecutionWords.count(w);
}

// "Creates a new issue" → "create a new issue": descriptions are often third person,
// requests are imperative. Acronyms ("URL", "SQL") keep their case. Returns "" when the
// sentence does not start with a verb ("A detailed tool for ...").
std::string as_request(const std::string& sentence) {
  if (sentence.empty()) return sentence;
  const auto space = sentence.find(' ');
  std::string first = sentence.substr(0, space);
  const bool acronym = first.size() > 1 && std::isupper(static_cast<unsigned char>(first[1]));
  if (!acronym) first = imperative(lower(first));
  static const std::set<std::string> kNotVerbs = {"a", "an", "the", "this", "these", "tool", "tools", "used",
                                                  "when", "if", "for", "with", "allows"};
  if (kNotVerbs.count(lower(sentence.substr(0, space)))) return "";
  return first + (space == std::string::npos ? "" : sentence.substr(space));
}

// Slots are filled with argument values and read as text, so only scalar properties
// (string, integer, number) qualify; users never state session tokens.
bool is_slot_property(const Json& properties, const std::string& name) {
  if (name == "session_token" || !properties.contains(name) || !properties[name].is_object()) return false;
  const Json& type = properties[name].value("type", Json());
  return type == "string" || type == "integer" || type == "number";
}

std::vector<std::string> slot_properties(const Json& tool) {
  std::vector<std::string> slots;
  if (!tool.contains("inputSchema") || !tool["inputSchema"].is_object()) return slots;
  const Json& schema = tool["inputSchema"];
  if (!schema.contains("properties") || !schema["properties"].is_object()) return slots;
  const Json& properties = schema["properties"];
  if (schema.contains("required") && schema["required"].is_array()) {
    for (const auto& r : schema["required"])
      if (r.is_string() && is_slot_property(properties, r.get<std::string>())) slots.push_back(r.get<std::string>());
  }
  // Paging knobs are for the model, not something a user asks for.
  static const std::set<std::string> kPaging = {"cursor", "page", "per_page", "perPage", "offset", "limit"};
  if (slots.empty())
    for (auto it = properties.begin(); it != properties.end() && slots.size() < 2; ++it)
      if (is_slot_property(properties, it.key()) && !kPaging.count(it.key())) slots.push_back(it.key());
  if (slots.size() > 3) slots.resize(3);
  return slots;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string slot_phrase(const std::vector<std::string>& slots) {
  std::string out;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (i > 0) out += i + 1 == slots.size() ? " and " : ", ";
    out += join_words(name_words(slots[i])) + " {" + slots[i] + "}";
  }
  return out;
}

}  // namespace

std::vector<std::string> name_words(const std::string& name) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(lower(word));
    word.clear();
  };
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      flush();
      continue;
    }
    if (std::isupper(static_cast<unsigned char>(c)) && !word.empty() &&
        std::islower(static_cast<unsigned char>(word.back())))
      flush();
    word += c;
  }
  flush();
  return words;
}

std::string infer_privilege(const Json& tool) {
  const std::vector<std::string> words = name_words(tool.value("name", std::string()));
  const std::string description = lower(description_of(tool));
  static const std::regex kExecutesCode(R"(execut\w* (arbitrary |custom |any )?(javascript|js|code|commands?|shell|scripts?))");
  if (has_word(words, kExecutionWords) || std::regex_search(description, kExecutesCode)) return "admin";
  const Json annotations = tool.value("annotations", Json::object());
  if (annotations.is_object() && annotations.value("readOnlyHint", false) == true) return "read";
  if (description.find("read-only") != std::string::npos || description.find("read only") != std::string::npos)
    return "read";
  // The first verb of the name decides ("create_merge_request" creates, "merge_pull_request"
  // merges); failing that, the description's first word ("Get detailed information ...").
  std::vector<std::string> candidates = words;
  const auto description_words = name_words(first_sentence(description_of(tool)));
  if (!description_words.empty()) candidates.push_back(imperative(description_words[0]));
  for (const auto& w : candidates) {
    if (kAdminVerbs.count(w)) return "admin";
    if (kWriteVerbs.count(w)) return "write";
    if (kReadVerbs.count(w)) return "read";
  }
  if (annotations.is_object() && annotations.value("readOnlyHint", true) == false) return "write";
  return "write";
}

std::vector<std::string> generate_queries(const Json& tool, const std::string& shared_prefix) {
  const std::string name = tool.value("name", std::string());
  std::vector<std::string> words = name_words(name);
  // "slack_post_message" → "post message": drop the prefix every tool of the server shares.
  if (!shared_prefix.empty() && words.size() >= 2 && words[0] == shared_prefix) words.erase(words.begin());
  const std::vector<std::string> slots = slot_properties(tool);
  const std::string with = slots.empty() ? "" : slot_phrase(slots);
  std::vector<std::string> queries;
  const std::string sentence = as_request(first_sentence(description_of(tool)));
  if (!sentence.empty())
    queries.push_back("Please " + sentence + (with.empty() ? "" : ", using " + with) + ".");
  if (words.empty()) words.push_back(name);
  const std::string action = is_verb(words[0]) ? join_words(words) : "run the " + join_words(words) + " tool";
  queries.push_back("Can you " + action + (with.empty() ? " for me?" : " with " + with + "?"));
  return queries;
}

std::string shared_name_prefix(const std::vector<Json>& tools) {
  if (tools.size() < 2) return "";
  std::string prefix;
  for (const auto& tool : tools) {
    const auto words = name_words(tool.value("name", std::string()));
    if (words.size() < 2) return "";
    if (prefix.empty()) prefix = words[0];
    if (words[0] != prefix) return "";
  }
  return is_verb(prefix) ? "" : prefix;
}

std::vector<std::string> template_slots(const std::string& query) {
  std::vector<std::string> slots;
  static const std::regex kSlot(R"(\{([A-Za-z0-9_.\-]+)\})");
  for (auto it = std::sregex_iterator(query.begin(), query.end(), kSlot); it != std::sregex_iterator(); ++it)
    slots.push_back((*it)[1].str());
  return slots;
}

}  // namespace mcip::mcp
