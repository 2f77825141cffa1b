#include "template.h"

#include <stdexcept>

namespace mcip::pipeline {
namespace {

// Walks text, calling on_text for literal runs and on_name for placeholders.
template <typename OnText, typename OnName>
void scan(const std::string& text, OnText on_text, OnName on_name) {
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      on_text("{");
      i += 2;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      on_text("}");
      i += 2;
    } else if (c == '{') {
      size_t end = text.find('}', i);
      if (end == std::string::npos) throw std::invalid_argument("unclosed '{' in \"" + text + "\"");
      std::string name = text.substr(i + 1, end - i - 1);
      if (name.empty()) throw std::invalid_argument("empty placeholder '{}' in \"" + text + "\"");
      on_name(name);
      i = end + 1;
    } else if (c == '}') {
      throw std::invalid_argument("stray '}' in \"" + text + "\" (write '}}' for a literal brace)");
    } else {
      size_t next = text.find_first_of("{}", i);
      if (next == std::string::npos) next = text.size();
      on_text(text.substr(i, next - i));
      i = next;
    }
  }
}

}  // namespace

std::string expand(const std::string& text, const Lookup& lookup) {
  std::string out;
  scan(
      text, [&](const std::string& s) { out += s; },
      [&](const std::string& name) {
        auto value = lookup(name);
        if (!value) throw std::invalid_argument("unknown placeholder '{" + name + "}'");
        out += *value;
      });
  return out;
}

std::vector<std::string> placeholders(const std::string& text) {
  std::vector<std::string> names;
  scan(text, [](const std::string&) {}, [&](const std::string& name) { names.push_back(name); });
  return names;
}

}  // namespace mcip::pipeline
