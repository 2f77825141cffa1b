// The MCIP taxonomy as validated data: dimensions, MAESTRO layers, attacks and the
// benchmark labels, loaded from YAML (a file or the copy embedded at build time).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcip::taxonomy {

struct DimensionValue {
  std::string id;
  std::string code;
  std::string name;
  std::string description;
  std::string mcp_component;  // MAESTRO layers only
};

struct Dimension {
  std::string id;
  std::string name;
  std::string description;
  std::vector<DimensionValue> values;
  const DimensionValue* find(std::string_view value_id) const;
};

struct FlowElement {
  std::string id;
  std::string name;
};

struct Attack {
  std::string id;
  std::string name;
  std::string phase;    // value of dimension "phase"
  std::string source;   // value of dimension "source"
  std::string scope;    // value of dimension "scope"
  std::string element;  // flow element; set iff scope == intra_flow
  std::string type;     // value of dimension "type"
  std::vector<std::string> maestro;  // values of dimension "maestro"
  std::string consequence;
};

struct Label {
  int index = 0;           // position in the label list; equals letter - 'A'
  char letter = 'A';
  std::string id;          // our identifier
  std::string name;        // display name, as in the benchmark's option list
  std::string bench_label; // byte-exact MCIP-bench string
  std::vector<std::string> aliases;
  std::string attack;      // empty for the safe label
  bool benchmark = true;   // false for extension labels beyond MCIP-bench
  std::string definition;
  bool safe() const { return attack.empty(); }
};

struct TaxonomyBuilder;

class Taxonomy {
 public:
  // Parses and validates; throws mcip::InputError naming origin, line and key.
  static Taxonomy from_yaml(std::string_view text, const std::string& origin);
  static Taxonomy from_file(const std::string& path);
  // The copy of taxonomy/mcip.yaml compiled into the binary.
  static Taxonomy embedded();
  static std::string_view embedded_text();

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& source() const { return source_; }
  const std::string& origin() const { return origin_; }
  // Hash of the source text; recorded in dataset manifests for provenance.
  const std::string& hash() const { return hash_; }

  const std::vector<Dimension>& dimensions() const { return dimensions_; }
  const std::vector<FlowElement>& flow_elements() const { return flow_elements_; }
  const std::vector<Attack>& attacks() const { return attacks_; }
  const std::vector<Label>& labels() const { return labels_; }
  std::vector<const Label*> benchmark_labels() const;

  const Dimension* dimension(std::string_view id) const;
  const Dimension& maestro_layers() const { return *dimension("maestro"); }
  const Attack* attack(std::string_view id) const;
  // Looks up a label by id, letter ("G" or "g"), bench string or alias.
  const Label* find_label(std::string_view key) const;
  const Label& label_at(int index) const { return labels_.at(static_cast<size_t>(index)); }
  const Label& safe_label() const;
  // The attack a label refines, or nullptr for the safe label.
  const Attack* attack_of(const Label& label) const;

 private:
  friend struct TaxonomyBuilder;
  std::string name_, version_, source_, origin_, hash_;
  std::vector<Dimension> dimensions_;
  std::vector<FlowElement> flow_elements_;
  std::vector<Attack> attacks_;
  std::vector<Label> labels_;
};

enum class Format { Table, Markdown, Json, Yaml };
// Parses "table|markdown|json|yaml"; throws mcip::InputError otherwise.
Format parse_format(std::string_view name);
std::string render(const Taxonomy& taxonomy, Format format);

}  // namespace mcip::taxonomy
