#include "mcip/synth/document.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"

namespace mcip::synth {

std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

struct DocumentBuilder {
  Document& doc;

  static int line(const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().line + 1; }

  // Plain (unquoted) scalars follow YAML 1.2 core-schema typing; quoted ones stay strings.
  static ojson scalar(const YAML::Node& n) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") return s;
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    const char* b = s.c_str();
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(b, &end, 10);
    if (*end == '\0' && errno == 0 && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+'))
      return i;
    errno = 0;
    double d = std::strtod(b, &end);
    if (*end == '\0' && errno == 0 && s.find_first_of("0123456789") != std::string::npos &&
        s.find_first_not_of("0123456789+-.eE") == std::string::npos && std::isfinite(d))
      return d;
    return s;
  }

  ojson convert(const YAML::Node& n, const std::string& pointer) {
    doc.lines_.emplace(pointer, line(n));
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(n);
      case YAML::NodeType::Sequence: {
        ojson arr = ojson::array();
        size_t i = 0;
        for (const auto& item : n) arr.push_back(convert(item, fmt::format("{}/{}", pointer, i++)));
        return arr;
      }
      case YAML::NodeType::Map: {
        ojson obj = ojson::object();
        for (auto it = n.begin(); it != n.end(); ++it) {
          if (!it->first.IsScalar()) doc.fail(pointer, "mapping keys must be strings");
          const std::string key = it->first.Scalar();
          const std::string child = pointer + "/" + pointer_token(key);
          if (obj.contains(key)) {
            doc.lines_[child] = line(it->first);
            doc.fail(child, "duplicate key");
          }
          obj[key] = convert(it->second, child);
        }
        return obj;
      }
    }
    return nullptr;
  }
};

int Document::line_of(const std::string& pointer) const {
  // Fall back to the nearest ancestor that has a line, so errors about missing keys still point somewhere.
  std::string p = pointer;
  while (true) {
    auto it = lines_.find(p);
    if (it != lines_.end() && it->second > 0) return it->second;
    if (p.empty()) return 0;
    p.resize(p.rfind('/'));
  }
}

void Document::fail(const std::string& pointer, const std::string& what) const {
  throw InputError(origin_, line_of(pointer), pointer.empty() ? std::string("/") : pointer, what);
}

Document Document::parse(std::string_view text, const std::string& origin) {
  Document doc;
  doc.origin_ = origin;
  const bool is_json = origin.size() >= 5 && origin.compare(origin.size() - 5, 5, ".json") == 0;
  if (is_json) {
    try {
      doc.root_ = ojson::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(origin, 0, "", fmt::format("invalid JSON at byte {}: {}", e.byte, e.what()));
    }
    return doc;
  }
  YAML::Node node;
  try {
    node = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw InputError(origin, e.mark.is_null() ? 0 : e.mark.line + 1, "", "invalid YAML: " + e.msg);
  }
  DocumentBuilder b{doc};
  doc.root_ = b.convert(node, "");
  return doc;
}

Document Document::load(const std::string& path) { return parse(read_file(path), path); }

}  // namespace mcip::synth
