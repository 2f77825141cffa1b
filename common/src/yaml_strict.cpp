#include "mcip/yaml_strict.h"

#include <set>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"

namespace mcip {

StrictYaml StrictYaml::parse(std::string_view text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw InputError(origin, e.mark.line + 1, "", fmt::format("YAML syntax error: {}", e.msg));
  }
  return StrictYaml(root, "", std::make_shared<const std::string>(origin));
}

StrictYaml StrictYaml::parse_file(const std::string& path) { return parse(read_file(path), path); }

StrictYaml::StrictYaml(YAML::Node node, std::string path, std::shared_ptr<const std::string> origin)
    : node_(std::move(node)), path_(std::move(path)), origin_(std::move(origin)) {}

int StrictYaml::line() const { return node_.Mark().is_null() ? 0 : node_.Mark().line + 1; }

void StrictYaml::fail(const std::string& what) const { throw InputError(*origin_, line(), path_, what); }

std::string StrictYaml::child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void StrictYaml::expect_map(std::initializer_list<const char*> allowed) const {
  if (!node_.IsMap()) fail(node_.IsDefined() && !node_.IsNull() ? "expected a mapping" : "expected a mapping, found nothing");
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    StrictYaml key_node(it->first, child_path(key), origin_);
    if (!seen.insert(key).second) key_node.fail("duplicate key");
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      key_node.fail(fmt::format("unknown key (allowed: {})", list));
    }
  }
}

bool StrictYaml::has(const char* key) const { return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull(); }

StrictYaml StrictYaml::operator[](const char* key) const {
  // Indexing a const node never inserts; an absent key keeps this node's mark for errors.
  const YAML::Node& self = node_;
  YAML::Node child = self.IsMap() ? self[key] : YAML::Node();
  return StrictYaml(child.IsDefined() ? child : YAML::Node(YAML::NodeType::Undefined), child_path(key), origin_);
}

StrictYaml StrictYaml::at(size_t i) const {
  return StrictYaml(node_[i], fmt::format("{}[{}]", path_, i), origin_);
}

StrictYaml StrictYaml::required(const char* key) const {
  if (!has(key)) fail(fmt::format("missing required key '{}'", key));
  return (*this)[key];
}

std::string StrictYaml::str() const {
  if (!node_.IsScalar()) fail("expected a string");
  return node_.Scalar();
}

std::string StrictYaml::required_str(const char* key) const {
  std::string s = required(key).str();
  if (s.empty()) (*this)[key].fail("must not be empty");
  return s;
}

std::string StrictYaml::optional_str(const char* key, const std::string& fallback) const {
  return has(key) ? (*this)[key].str() : fallback;
}

long long StrictYaml::integer() const {
  try {
    if (!node_.IsScalar()) throw YAML::Exception(node_.Mark(), "");
    return node_.as<long long>();
  } catch (const YAML::Exception&) {
    fail("expected an integer");
  }
}

long long StrictYaml::optional_int(const char* key, long long fallback) const {
  return has(key) ? (*this)[key].integer() : fallback;
}

double StrictYaml::number() const {
  try {
    if (!node_.IsScalar()) throw YAML::Exception(node_.Mark(), "");
    return node_.as<double>();
  } catch (const YAML::Exception&) {
    fail("expected a number");
  }
}

double StrictYaml::optional_number(const char* key, double fallback) const {
  return has(key) ? (*this)[key].number() : fallback;
}

bool StrictYaml::boolean() const {
  try {
    if (!node_.IsScalar()) throw YAML::Exception(node_.Mark(), "");
    return node_.as<bool>();
  } catch (const YAML::Exception&) {
    fail("expected true or false");
  }
}

bool StrictYaml::optional_bool(const char* key, bool fallback) const {
  return has(key) ? (*this)[key].boolean() : fallback;
}

size_t StrictYaml::seq_size() const {
  if (!node_.IsSequence()) fail("expected a list");
  return node_.size();
}

std::vector<std::string> StrictYaml::str_list() const {
  std::vector<std::string> out;
  for (size_t i = 0, n = seq_size(); i < n; ++i) out.push_back(at(i).str());
  return out;
}

std::vector<std::string> StrictYaml::keys() const {
  std::vector<std::string> out;
  if (!node_.IsMap()) fail("expected a mapping");
  for (auto it = node_.begin(); it != node_.end(); ++it) out.push_back(it->first.as<std::string>());
  return out;
}

}  // namespace mcip
