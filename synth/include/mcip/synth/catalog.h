// Catalogs of MCP servers and tools (data/catalogs/SCHEMA.md), loaded with strict validation
// and compiled once into the forms the hot path needs (Tool JSON, Glaive definitions, slots).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mcip/synth/document.h"

namespace mcip::synth {

enum class Privilege { Read = 0, Write = 1, Admin = 2 };
const char* privilege_name(Privilege p);

struct Query {
  std::string text;                // "Send {amount} {currency} to {recipient_account}."
  std::vector<std::string> slots;  // in order of appearance, unique
};

struct Tool {
  std::string name, title, description;
  std::string server;               // owning server name
  ojson mcp;                        // the MCP Tool object exactly as tools/list returns it (no x-mcip)
  ojson input_schema;               // always an object schema
  ojson output_schema;              // null when the tool declares none
  std::vector<std::string> required_args;
  std::vector<std::string> properties;  // inputSchema property names, in order
  bool read_only = false, destructive = true, idempotent = false, open_world = true;
  Privilege privilege = Privilege::Read;
  std::vector<std::string> requires;  // tools of the same server that must run first
  std::vector<Query> queries;
  bool synthetic = false;             // made up by a mutator, not from a catalog
  // Precompiled renderings.
  std::string mcp_json;     // compact JSON of `mcp`
  std::string glaive_def;   // {"name","description","parameters"} pretty-printed with 4 spaces
  std::string glaive_def_escaped, glaive_def_normalized;

  bool state_changing() const { return !read_only; }
  void compile();  // (re)builds mcp_json and glaive_def from the fields above
};

struct Server {
  std::string name, version, title, domain, instructions;
  std::string catalog_id, source;  // source of its catalog: builtin | harvested
  std::vector<Tool> tools;
  bool held_out = false;  // in test_unseen_tools only (set by the split policy)
  const Tool* find(const std::string& tool) const;
};

struct CatalogFileInfo {
  std::string id, source, path, hash;
  size_t servers = 0, tools = 0;
};

class Catalog {
 public:
  // Loads every file (YAML or JSON), validating each and the set as a whole. Throws InputError.
  static Catalog load(const std::vector<std::string>& files);
  // Adds one parsed document (used by load and by tests).
  void add(const Document& doc, const std::string& file_hash);
  // Cross-file checks and final indexing; call after the last add().
  void finish();

  const std::vector<Server>& servers() const { return servers_; }
  std::vector<Server>& servers() { return servers_; }
  const std::vector<CatalogFileInfo>& files() const { return files_; }
  const Server* server(const std::string& name) const;
  size_t tool_count() const;
  // Every property name of every schema, for ValuePools::prepare.
  std::vector<std::string> property_names() const;

 private:
  std::vector<CatalogFileInfo> files_;
  std::vector<Server> servers_;
};

// Expands config entries (files, directories, or globs with * and ?) into a sorted file list.
// Entries that match nothing are an error unless `optional` is set.
std::vector<std::string> expand_catalog_paths(const std::vector<std::string>& entries, const std::string& origin);

}  // namespace mcip::synth
