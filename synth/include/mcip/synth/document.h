// A YAML or JSON file parsed into JSON, remembering where each value came from, so that
// validation errors can name the file, the line (YAML) or JSON pointer, and the field.
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace mcip::synth {

using ojson = nlohmann::ordered_json;

class Document {
 public:
  // Parses YAML (a superset of JSON) or, for *.json origins, strict JSON. Throws InputError.
  static Document parse(std::string_view text, const std::string& origin);
  static Document load(const std::string& path);

  const ojson& root() const { return root_; }
  ojson& root() { return root_; }
  const std::string& origin() const { return origin_; }
  // 1-based line of the value at `pointer`, or 0 when unknown (JSON input, synthesized values).
  int line_of(const std::string& pointer) const;
  // Throws InputError("origin:line: pointer: what").
  [[noreturn]] void fail(const std::string& pointer, const std::string& what) const;

 private:
  ojson root_;
  std::string origin_;
  std::unordered_map<std::string, int> lines_;
  friend struct DocumentBuilder;
};

// Escapes one JSON-pointer reference token ("~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view key);

}  // namespace mcip::synth
