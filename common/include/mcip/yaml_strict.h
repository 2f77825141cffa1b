// Strict YAML reading for configs and data files: a node that knows its dotted path and
// origin file, rejects unknown and duplicate keys, and reports every problem as an
// InputError "file:line: path: problem".
#pragma once
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace mcip {

class StrictYaml {
 public:
  // Parses text; syntax errors become InputError with the line.
  static StrictYaml parse(std::string_view text, const std::string& origin);
  static StrictYaml parse_file(const std::string& path);

  StrictYaml(YAML::Node node, std::string path, std::shared_ptr<const std::string> origin);

  [[noreturn]] void fail(const std::string& what) const;
  // Checks this is a mapping with no duplicate keys and none outside `allowed`.
  void expect_map(std::initializer_list<const char*> allowed) const;

  bool has(const char* key) const;  // defined and not null
  StrictYaml operator[](const char* key) const;
  StrictYaml at(size_t i) const;
  StrictYaml required(const char* key) const;

  std::string str() const;
  std::string required_str(const char* key) const;
  std::string optional_str(const char* key, const std::string& fallback = "") const;
  long long integer() const;
  long long optional_int(const char* key, long long fallback) const;
  double number() const;
  double optional_number(const char* key, double fallback) const;
  bool boolean() const;
  bool optional_bool(const char* key, bool fallback) const;
  size_t seq_size() const;
  std::vector<std::string> str_list() const;
  std::vector<std::string> keys() const;

  int line() const;
  const YAML::Node& raw() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& origin() const { return *origin_; }

 private:
  std::string child_path(const std::string& key) const;
  YAML::Node node_;
  std::string path_;
  std::shared_ptr<const std::string> origin_;
};

}  // namespace mcip
