// Parsing and validation of the taxonomy YAML. Every rule failure is an InputError that
// names the file, the line and the dotted key so users can fix their extension files.
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/taxonomy.h"
#include "mcip/yaml_strict.h"

extern "C" {
extern const unsigned char mcip_taxonomy_yaml[];
extern const unsigned long mcip_taxonomy_yaml_size;
}

namespace mcip::taxonomy {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<std::string> value_ids(const Dimension& d) {
  std::vector<std::string> ids;
  for (const auto& v : d.values) ids.push_back(v.id);
  return ids;
}

const std::vector<const char*> kRequiredDimensions = {"phase", "source", "scope", "type", "maestro"};

}  // namespace

struct TaxonomyBuilder {
  static Taxonomy build(const YAML::Node& yaml, const std::string& origin, std::string_view text);
};

Taxonomy TaxonomyBuilder::build(const YAML::Node& yaml, const std::string& origin, std::string_view text) {
  Taxonomy t;
  StrictYaml root(yaml, "", std::make_shared<const std::string>(origin));
  root.expect_map({"schema_version", "name", "version", "source", "dimensions", "flow_elements", "attacks", "labels"});
  if (root.required("schema_version").integer() != 1) root["schema_version"].fail("unsupported schema version (this build reads 1)");
  t.name_ = root.required_str("name");
  t.version_ = root.required_str("version");
  t.source_ = root.optional_str("source");
  t.origin_ = origin;
  t.hash_ = hash_hex(text);

  // Dimensions.
  StrictYaml dims = root.required("dimensions");
  std::set<std::string> dim_ids;
  for (size_t i = 0, n = dims.seq_size(); i < n; ++i) {
    StrictYaml d = dims.at(i);
    d.expect_map({"id", "name", "description", "values"});
    Dimension dim{d.required_str("id"), d.required_str("name"), d.optional_str("description"), {}};
    if (!dim_ids.insert(dim.id).second) d["id"].fail(fmt::format("duplicate dimension id '{}'", dim.id));
    StrictYaml values = d.required("values");
    std::set<std::string> ids, codes;
    for (size_t j = 0, m = values.seq_size(); j < m; ++j) {
      StrictYaml v = values.at(j);
      v.expect_map({"id", "code", "name", "description", "mcp_component"});
      DimensionValue val{v.required_str("id"), v.required_str("code"), v.required_str("name"),
                         v.optional_str("description"), v.optional_str("mcp_component")};
      if (!ids.insert(val.id).second) v["id"].fail(fmt::format("duplicate value id '{}' in dimension '{}'", val.id, dim.id));
      if (!codes.insert(val.code).second) v["code"].fail(fmt::format("duplicate code '{}' in dimension '{}'", val.code, dim.id));
      dim.values.push_back(std::move(val));
    }
    if (dim.values.empty()) values.fail("a dimension needs at least one value");
    t.dimensions_.push_back(std::move(dim));
  }
  for (const char* required : kRequiredDimensions)
    if (!dim_ids.count(required)) dims.fail(fmt::format("missing required dimension '{}'", required));

  // Flow elements.
  StrictYaml elements = root.required("flow_elements");
  std::set<std::string> element_ids;
  for (size_t i = 0, n = elements.seq_size(); i < n; ++i) {
    StrictYaml e = elements.at(i);
    e.expect_map({"id", "name"});
    FlowElement fe{e.required_str("id"), e.required_str("name")};
    if (!element_ids.insert(fe.id).second) e["id"].fail(fmt::format("duplicate flow element '{}'", fe.id));
    t.flow_elements_.push_back(std::move(fe));
  }

  auto check_value = [&](const StrictYaml& n, const char* dim_id, const std::string& value) {
    const Dimension* dim = t.dimension(dim_id);
    if (!dim->find(value))
      n.fail(fmt::format("unknown {} '{}' (expected one of {})", dim_id, value, join(value_ids(*dim))));
  };

  // Attacks.
  StrictYaml attacks = root.required("attacks");
  std::set<std::string> attack_ids;
  for (size_t i = 0, n = attacks.seq_size(); i < n; ++i) {
    StrictYaml a = attacks.at(i);
    a.expect_map({"id", "name", "phase", "source", "scope", "element", "type", "maestro", "consequence"});
    Attack at;
    at.id = a.required_str("id");
    if (!attack_ids.insert(at.id).second) a["id"].fail(fmt::format("duplicate attack id '{}'", at.id));
    at.name = a.required_str("name");
    at.phase = a.required_str("phase");
    check_value(a["phase"], "phase", at.phase);
    at.source = a.required_str("source");
    check_value(a["source"], "source", at.source);
    at.scope = a.required_str("scope");
    check_value(a["scope"], "scope", at.scope);
    at.element = a.optional_str("element");
    if (at.scope == "intra_flow") {
      if (at.element.empty()) a.fail("an intra_flow attack must name the flow 'element' it misuses");
      if (!element_ids.count(at.element))
        a["element"].fail(fmt::format("unknown flow element '{}'", at.element));
    } else if (!at.element.empty()) {
      a["element"].fail("only intra_flow attacks name a flow element");
    }
    at.type = a.required_str("type");
    check_value(a["type"], "type", at.type);
    StrictYaml maestro = a.required("maestro");
    at.maestro = maestro.str_list();
    if (at.maestro.empty()) maestro.fail("an attack enters through at least one MAESTRO layer");
    std::set<std::string> layers;
    for (size_t j = 0; j < at.maestro.size(); ++j) {
      check_value(maestro.at(j), "maestro", at.maestro[j]);
      if (!layers.insert(at.maestro[j]).second) maestro.at(j).fail(fmt::format("layer '{}' listed twice", at.maestro[j]));
    }
    at.consequence = a.required_str("consequence");
    t.attacks_.push_back(std::move(at));
  }

  // Labels.
  StrictYaml labels = root.required("labels");
  std::map<std::string, std::string> keys;  // every lookup key -> owning label id
  bool seen_extension = false;
  int safe_count = 0;
  for (size_t i = 0, n = labels.seq_size(); i < n; ++i) {
    StrictYaml l = labels.at(i);
    l.expect_map({"letter", "id", "name", "bench_label", "aliases", "attack", "benchmark", "definition"});
    Label lab;
    lab.index = static_cast<int>(i);
    std::string letter = l.required_str("letter");
    const char expected = static_cast<char>('A' + i);
    if (letter.size() != 1 || letter[0] != expected)
      l["letter"].fail(fmt::format("letters must run contiguously from A; expected '{}' here, found '{}'", expected, letter));
    lab.letter = letter[0];
    lab.id = l.required_str("id");
    lab.name = l.required_str("name");
    lab.bench_label = l.required_str("bench_label");
    lab.aliases = l.has("aliases") ? l["aliases"].str_list() : std::vector<std::string>{};
    if (!l.raw()["attack"].IsDefined()) l.fail("missing required key 'attack' (null for the safe label)");
    lab.attack = l.has("attack") ? l["attack"].str() : std::string();
    if (!lab.attack.empty()) {
      const Attack* at = t.attack(lab.attack);
      if (!at) l["attack"].fail(fmt::format("unknown attack '{}'", lab.attack));
    } else {
      ++safe_count;
      if (lab.index != 0) l["attack"].fail("only label A may be the safe label (attack: null)");
    }
    lab.benchmark = true;
    if (l.has("benchmark")) {
      try {
        lab.benchmark = l["benchmark"].raw().as<bool>();
      } catch (const YAML::Exception&) {
        l["benchmark"].fail("expected true or false");
      }
    }
    if (lab.benchmark && seen_extension)
      l["benchmark"].fail("benchmark labels must come before extension labels so their letters stay A..K");
    if (!lab.benchmark) seen_extension = true;
    if (lab.benchmark && !lab.attack.empty() && t.attack(lab.attack)->phase != "interaction")
      l["attack"].fail("MCIP-bench labels refine interaction-phase attacks only; mark this label 'benchmark: false'");
    lab.definition = l.required_str("definition");

    std::vector<std::pair<std::string, StrictYaml>> lookup_keys = {{lab.id, l["id"]}, {lab.bench_label, l["bench_label"]}};
    for (size_t j = 0; j < lab.aliases.size(); ++j) lookup_keys.emplace_back(lab.aliases[j], l["aliases"].at(j));
    std::set<std::string> own_keys;
    for (auto& [key, node] : lookup_keys) {
      if (key.size() == 1) node.fail("single-character keys are reserved for letters");
      auto [it, inserted] = keys.emplace(key, lab.id);
      if (!inserted && it->second != lab.id) node.fail(fmt::format("'{}' already names label '{}'", key, it->second));
      // id and bench_label may coincide (e.g. data_injection); aliases must add something new.
      if (!own_keys.insert(key).second && &key != &lookup_keys[1].first)
        node.fail(fmt::format("'{}' repeats another key of the same label", key));
    }
    t.labels_.push_back(std::move(lab));
  }
  if (t.labels_.empty()) labels.fail("at least the safe label is required");
  if (safe_count != 1) labels.fail("exactly one label must be safe (attack: null)");
  return t;
}

Taxonomy Taxonomy::from_yaml(std::string_view text, const std::string& origin) {
  YAML::Node yaml;
  try {
    yaml = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw InputError(origin, e.mark.line + 1, "", fmt::format("YAML syntax error: {}", e.msg));
  }
  if (!yaml.IsMap()) throw InputError(origin, 0, "", "expected a YAML mapping at the top level");
  try {
    return TaxonomyBuilder::build(yaml, origin, text);
  } catch (const YAML::Exception& e) {
    throw InputError(origin, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  }
}

Taxonomy Taxonomy::from_file(const std::string& path) { return from_yaml(read_file(path), path); }

std::string_view Taxonomy::embedded_text() {
  return {reinterpret_cast<const char*>(mcip_taxonomy_yaml), static_cast<size_t>(mcip_taxonomy_yaml_size)};
}

Taxonomy Taxonomy::embedded() { return from_yaml(embedded_text(), "<embedded taxonomy/mcip.yaml>"); }

}  // namespace mcip::taxonomy
