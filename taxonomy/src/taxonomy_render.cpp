// Renders a taxonomy for people (table, markdown) and machines (json, yaml).
// The yaml rendering is itself a valid taxonomy file (tests round-trip it).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/taxonomy.h"

namespace mcip::taxonomy {
namespace {

using Row = std::vector<std::string>;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Display width in code points, so multi-byte text lines up.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Splits text into lines of at most `limit` code points at spaces.
std::vector<std::string> wrap(const std::string& text, size_t limit) {
  std::vector<std::string> lines;
  std::string line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && width(line) + 1 + width(word) > limit) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ') flush_word();
    else word += c;
  }
  flush_word();
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

// The last column (free text) wraps at this width so tables stay readable in a terminal.
constexpr size_t kLastColumnWidth = 72;

std::string text_table(const std::string& title, const Row& header, const std::vector<Row>& rows_in) {
  // Expand rows whose last cell is long into continuation rows.
  std::vector<Row> rows;
  for (const auto& r : rows_in) {
    auto parts = wrap(r.back(), kLastColumnWidth);
    for (size_t i = 0; i < parts.size(); ++i) {
      Row row = i == 0 ? r : Row(r.size());
      row.back() = parts[i];
      rows.push_back(std::move(row));
    }
  }
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& r : rows) w[c] = std::max(w[c], width(r[c]));
  }
  auto line = [&](const Row& r) {
    std::string out;
    for (size_t c = 0; c < r.size(); ++c) {
      out += r[c];
      if (c + 1 < r.size()) out += std::string(w[c] - width(r[c]) + 2, ' ');
    }
    return out + "\n";
  };
  std::string out = title + "\n";
  out += line(header);
  Row rule;
  for (size_t c = 0; c < header.size(); ++c) rule.push_back(std::string(w[c], '-'));
  out += line(rule);
  for (const auto& r : rows) out += line(r);
  return out + "\n";
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string markdown_table(const std::string& title, const Row& header, const std::vector<Row>& rows) {
  std::string out = "## " + title + "\n\n|";
  for (const auto& h : header) out += " " + h + " |";
  out += "\n|";
  for (size_t c = 0; c < header.size(); ++c) out += "---|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& cell : r) out += " " + md_escape(cell) + " |";
    out += "\n";
  }
  return out + "\n";
}

std::string code_of(const Taxonomy& t, const char* dim, const std::string& value) {
  const DimensionValue* v = t.dimension(dim)->find(value);
  return v ? v->code : value;
}

struct Tables {
  std::vector<std::tuple<std::string, Row, std::vector<Row>>> list;
};

Tables build_tables(const Taxonomy& t) {
  Tables tables;
  for (const auto& d : t.dimensions()) {
    std::vector<Row> rows;
    for (const auto& v : d.values) rows.push_back({v.code, v.id, v.name, v.description});
    tables.list.emplace_back(fmt::format("Dimension: {} ({} values)", d.name, d.values.size()),
                             Row{"Code", "Id", "Name", "Description"}, std::move(rows));
  }
  std::vector<Row> attacks;
  for (const auto& a : t.attacks()) {
    std::string scope = code_of(t, "scope", a.scope);
    if (!a.element.empty()) scope += " (" + a.element + ")";
    attacks.push_back({code_of(t, "phase", a.phase), a.name, code_of(t, "source", a.source), scope,
                       t.dimension("type")->find(a.type)->name, join(a.maestro, ","), a.consequence});
  }
  tables.list.emplace_back(fmt::format("Attacks ({})", t.attacks().size()),
                           Row{"Phase", "Attack", "Src", "Scope", "Type", "MAESTRO", "Consequence"}, std::move(attacks));
  std::vector<Row> labels;
  size_t bench = 0;
  for (const auto& l : t.labels()) {
    bench += l.benchmark;
    const Attack* a = t.attack_of(l);
    labels.push_back({std::string(1, l.letter), l.bench_label, l.name, a ? a->name : std::string("(safe)"),
                      l.benchmark ? "bench" : "extension", l.definition});
  }
  tables.list.emplace_back(fmt::format("Labels ({}, {} from MCIP-bench)", t.labels().size(), bench),
                           Row{"L", "MCIP-bench label", "Name", "Refines attack", "Set", "Definition"}, std::move(labels));
  return tables;
}

nlohmann::ordered_json to_json(const Taxonomy& t) {
  using J = nlohmann::ordered_json;
  J root;
  root["schema_version"] = 1;
  root["name"] = t.name();
  root["version"] = t.version();
  if (!t.source().empty()) root["source"] = t.source();
  J dims = J::array();
  for (const auto& d : t.dimensions()) {
    J jd;
    jd["id"] = d.id;
    jd["name"] = d.name;
    if (!d.description.empty()) jd["description"] = d.description;
    J values = J::array();
    for (const auto& v : d.values) {
      J jv{{"id", v.id}, {"code", v.code}, {"name", v.name}};
      if (!v.description.empty()) jv["description"] = v.description;
      if (!v.mcp_component.empty()) jv["mcp_component"] = v.mcp_component;
      values.push_back(jv);
    }
    jd["values"] = values;
    dims.push_back(jd);
  }
  root["dimensions"] = dims;
  J elements = J::array();
  for (const auto& e : t.flow_elements()) elements.push_back(J{{"id", e.id}, {"name", e.name}});
  root["flow_elements"] = elements;
  J attacks = J::array();
  for (const auto& a : t.attacks()) {
    J ja{{"id", a.id}, {"name", a.name}, {"phase", a.phase}, {"source", a.source}, {"scope", a.scope}};
    if (!a.element.empty()) ja["element"] = a.element;
    ja["type"] = a.type;
    ja["maestro"] = a.maestro;
    ja["consequence"] = a.consequence;
    attacks.push_back(ja);
  }
  root["attacks"] = attacks;
  J labels = J::array();
  for (const auto& l : t.labels()) {
    J jl{{"letter", std::string(1, l.letter)}, {"id", l.id}, {"name", l.name}, {"bench_label", l.bench_label}};
    if (!l.aliases.empty()) jl["aliases"] = l.aliases;
    jl["attack"] = l.attack.empty() ? J(nullptr) : J(l.attack);
    if (!l.benchmark) jl["benchmark"] = false;
    jl["definition"] = l.definition;
    labels.push_back(jl);
  }
  root["labels"] = labels;
  return root;
}

void emit_yaml(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key << k << YAML::Value;
        emit_yaml(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) emit_yaml(out, v);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string:
      // Quote so strings like "true" or "L1" keep their type on reload.
      out << YAML::DoubleQuoted << j.get<std::string>();
      break;
    case nlohmann::json::value_t::boolean:
      out << j.get<bool>();
      break;
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      break;
    default:
      out << j.dump();
  }
}

}  // namespace

Format parse_format(std::string_view name) {
  if (name == "table") return Format::Table;
  if (name == "markdown" || name == "md") return Format::Markdown;
  if (name == "json") return Format::Json;
  if (name == "yaml") return Format::Yaml;
  throw InputError("", 0, "--format", fmt::format("unknown format '{}' (expected table, markdown, json or yaml)", name));
}

std::string render(const Taxonomy& t, Format format) {
  switch (format) {
    case Format::Json:
      return to_json(t).dump(2) + "\n";
    case Format::Yaml: {
      YAML::Emitter out;
      emit_yaml(out, to_json(t));
      return std::string(out.c_str()) + "\n";
    }
    case Format::Markdown: {
      std::string out = fmt::format("# {} taxonomy {}\n\n", t.name(), t.version());
      if (!t.source().empty()) out += fmt::format("Source: {}\n\n", t.source());
      for (const auto& [title, header, rows] : build_tables(t).list) out += markdown_table(title, header, rows);
      return out;
    }
    case Format::Table:
    default: {
      std::string out = fmt::format("{} taxonomy {} ({} attacks, {} labels; hash {})\n\n", t.name(), t.version(),
                                    t.attacks().size(), t.labels().size(), t.hash().substr(0, 12));
      for (const auto& [title, header, rows] : build_tables(t).list) out += text_table(title, header, rows);
      return out;
    }
  }
}

}  // namespace mcip::taxonomy
