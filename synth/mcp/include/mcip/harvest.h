// `mcip-synth harvest`: connect to a real MCP server over stdio, list its tools (and
// resources/prompts when advertised), and write a catalog in the schema of
// data/catalogs/SCHEMA.md with `source: harvested`.
#pragma once
#include <cstddef>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mcip/mcp_client.h"

namespace CLI {
class App;
}

namespace mcip::mcp {

// How to reach one server; shared by harvest and record.
struct ServerSpec {
  std::string command;                 // --server "<command line>"
  std::vector<std::string> env;        // --env K=V (repeatable)
  std::string protocol_version = kDefaultProtocolVersion;
  int timeout_ms = 30000;              // per protocol step
  std::size_t max_line_bytes = 16u * 1024u * 1024u;
  int kill_grace_ms = 1000;            // stdin close → SIGTERM → SIGKILL spacing
  std::string client_capabilities;     // JSON object declared in initialize; empty = {}
};

struct HarvestOptions {
  ServerSpec server;
  std::filesystem::path out;
  std::string id;                      // catalog id; default: file stem of `out`
  std::string domain = "general";      // synthesizer domain of the server
  std::filesystem::path package_json;  // default: found by walking up from the server's script
  std::filesystem::path curated;       // curated-queries.yaml to merge (optional)
  std::vector<std::string> skip;       // "resources" and/or "prompts": do not list them
};

// Validates the spec (InputError for bad usage) and builds the child/client options.
ChildOptions child_options(const ServerSpec& spec);
ClientOptions client_options(const ServerSpec& spec);

struct NpmPackage {
  std::string name, version;
  std::filesystem::path package_json;
};
// The npm package a server command runs: the nearest package.json (with name and version)
// above any existing file named in argv (symlinks such as node_modules/.bin resolved).
std::optional<NpmPackage> detect_npm_package(const std::vector<std::string>& argv);
NpmPackage read_npm_package(const std::filesystem::path& package_json);

// Talks to the server and returns the catalog. Throws McpError (server failures) or
// InputError (bad options, curated file disagreeing with the server).
Json harvest_catalog(const HarvestOptions& options);

// Harvests and writes `options.out` atomically; prints a one-line summary to `log`.
int run_harvest(const HarvestOptions& options, std::ostream& log);

// Registers the `harvest` subcommand, binding its options to `options`.
CLI::App* add_harvest_command(CLI::App& app, HarvestOptions& options);

}  // namespace mcip::mcp
